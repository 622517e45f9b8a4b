//! Hiding credentials in connection URLs before they reach a log, a `Debug`
//! output or an error message.

use crate::Error;

/// The URL with its password replaced by `***`: the password of the
/// user-info part, and the values of query parameters that may hold a
/// secret: `pass`, `passwd`, any name containing `password`, `secret` or
/// `token`, and `authMechanismProperties`, names read percent-decoded as
/// servers read them (as in
/// `redis+unix:///run/redis.sock?pass=…`, `postgres://db/app?password=…`
/// or `mongodb://h/?tlsCertificateKeyFilePassword=…`).
///
/// Works on any `scheme://user:password@host…` URL (Redis, Postgres,
/// MongoDB, with several comma-separated hosts too) without parsing the
/// rest, so a malformed URL is still redacted. A URL without a password is
/// returned unchanged; text that is not a URL at all (no `://`) is replaced
/// by `(not a URL)`, since where a password would be in it is unknown.
///
/// ```
/// use store_core::redact_url;
/// assert_eq!(redact_url("redis://app:s3cret@cache:6379/0"), "redis://app:***@cache:6379/0");
/// assert_eq!(redact_url("redis://:s3cret@cache"), "redis://:***@cache");
/// assert_eq!(redact_url("postgres://app@db/sessions"), "postgres://app@db/sessions");
/// assert_eq!(redact_url("mongodb://u:p@a:1,b:2/?tls=true"), "mongodb://u:***@a:1,b:2/?tls=true");
/// assert_eq!(redact_url("redis+unix:///tmp/r.sock?db=1&pass=s3cret"), "redis+unix:///tmp/r.sock?db=1&pass=***");
/// assert_eq!(
///     redact_url("mongodb://h/?tls=true&tlsCertificateKeyFilePassword=s3cret"),
///     "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=***"
/// );
/// assert_eq!(redact_url("user:s3cret@host"), "(not a URL)");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "(not a URL)".to_owned();
    };
    redact_query(&redact_user_info(url, scheme_end))
}

/// Every substring of `url` that may be a secret, generously: the user-info
/// password (from the first `:` after the scheme to the last `@`) and the
/// values of the query parameters [`is_secret_param`] names. Substrings
/// shorter than 2 bytes are left out (they would match everywhere).
///
/// ```
/// let secrets = store_core::url_secrets("redis://app:s3cret@cache/0?pass=other");
/// assert_eq!(secrets, ["s3cret", "other"]);
/// ```
pub fn url_secrets(url: &str) -> Vec<&str> {
    let mut secrets = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if let (Some(colon), Some(at)) = (rest.find(':'), rest.rfind('@')) {
        if colon < at {
            secrets.push(&rest[colon + 1..at]);
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for param in query.split(['&', '#']) {
            if let Some((name, value)) = param.split_once('=') {
                if is_secret_param(name) {
                    secrets.push(value);
                }
            }
        }
    }
    secrets.retain(|s| s.len() >= 2);
    secrets
}

/// `e` without any secret of `url` ([`url_secrets`]): when its message or
/// its source's text contains one, the secret is masked in the message and
/// the source is dropped (a driver's error may quote the URL it was
/// given). Kind, retryability, backend and operation are kept.
///
/// ```
/// use store_core::{Error, ErrorKind, without_url_secrets};
/// let url = "redis://app:s3cret@cache";
/// let e = Error::new(ErrorKind::Config, "bad URL redis://app:s3cret@cache");
/// let clean = without_url_secrets(e, url);
/// assert_eq!(clean.kind(), ErrorKind::Config);
/// assert!(!format!("{clean:?}").contains("s3cret"));
/// ```
pub fn without_url_secrets(e: Error, url: &str) -> Error {
    let text = format!("{e:?}");
    let leaked: Vec<&str> = url_secrets(url)
        .into_iter()
        .filter(|s| text.contains(s))
        .collect();
    if leaked.is_empty() {
        return e;
    }
    let message = leaked
        .iter()
        .fold(e.message().to_owned(), |m, s| m.replace(s, "***"));
    let mut clean = Error::new(e.kind(), message).with_retryable(e.is_retryable());
    if let (Some(b), Some(op)) = (e.backend(), e.operation()) {
        clean = clean.in_context(b, op);
    }
    clean
}

/// Masks the values of password-like query parameters.
fn redact_query(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_owned();
    };
    let (head, query) = url.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if is_secret_param(name) => {
                format!("{name}=***")
            }
            _ => param.to_owned(),
        })
        .collect();
    format!("{head}{}{fragment}", params.join("&"))
}

/// Whether a URL query parameter may carry a secret: `pass`, `passwd`, any
/// name containing `password`, `secret` or `token` (MongoDB's
/// `tlsCertificateKeyFilePassword`), and MongoDB's
/// `authMechanismProperties`, which can hold an AWS session token.
/// The name is read as servers read it, percent-decoded (`pass%77ord` is
/// `password`). The one definition [`redact_url`] and
/// [`without_url_secrets`] use, for every backend.
///
/// ```
/// use store_core::is_secret_param;
/// assert!(is_secret_param("sslpassword"));
/// assert!(is_secret_param("PASS%77ORD"));
/// assert!(!is_secret_param("sslmode"));
/// ```
pub fn is_secret_param(name: &str) -> bool {
    let name = percent_decode(name).to_ascii_lowercase();
    matches!(name.as_str(), "pass" | "passwd" | "authmechanismproperties")
        || ["password", "secret", "token"]
            .iter()
            .any(|part| name.contains(part))
}

/// `text` with its `%XX` escapes decoded (others kept as they are), and
/// `+` as a space, as in a query string.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn redact_user_info(url: &str, scheme_end: usize) -> String {
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    // The authority ends at the first '/', '?' or '#'; user info ends at
    // the last '@' (a password may itself contain '@'). A password with an
    // unescaped '/', '?' or '#' ends the authority early (`u:pa/ss@host`),
    // so when an '@' comes after the authority and the authority holds the
    // ':', the user info runs to that last '@'. That masks more than needed
    // in a URL with a ':' in its authority and an '@' in its path or query
    // (`h:1/db?x=a@b`), never less.
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let user_info = if at < authority_len {
        &rest[..at]
    } else {
        // Only a ':' inside the authority can start a password.
        &rest[..authority_len]
    };
    let Some(colon) = user_info.find(':') else {
        return url.to_owned();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..rest_start]);
    out.push_str(&user_info[..=colon]);
    out.push_str("***");
    out.push_str(&rest[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_with_at_signs_and_no_path() {
        assert_eq!(redact_url("redis://u:p@ss@h"), "redis://u:***@h");
        assert_eq!(
            redact_url("rediss://u:pw@h:1?x=1"),
            "rediss://u:***@h:1?x=1"
        );
        assert_eq!(redact_url("not a url"), "(not a url)".replace("url", "URL"));
        assert_eq!(
            redact_url("postgres://h/db?PASSWORD=x#f"),
            "postgres://h/db?PASSWORD=***#f"
        );
        assert_eq!(redact_url("redis://h/0?a=b@c"), "redis://h/0?a=b@c");
        assert_eq!(
            redact_url(
                "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:t"
            ),
            "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=***"
        );
        assert_eq!(
            redact_url("x://h/?client_secret=a&access_token=b&db=1"),
            "x://h/?client_secret=***&access_token=***&db=1"
        );
    }

    #[test]
    fn percent_encoded_names_are_read_decoded() {
        assert_eq!(
            redact_url("postgres://h/db?pass%77ord=x&ssl%70assword=y&p%61ss=z&db%5fname=d"),
            "postgres://h/db?pass%77ord=***&ssl%70assword=***&p%61ss=***&db%5fname=d"
        );
        assert_eq!(
            redact_url("mongodb://h/?tlsCertificateKeyFile%50assword=x&a%zz=1&b%4=2&c%=3"),
            "mongodb://h/?tlsCertificateKeyFile%50assword=***&a%zz=1&b%4=2&c%=3"
        );
        assert_eq!(
            redact_url("x://h/?%F0%9F%A6%80token=x"),
            "x://h/?%F0%9F%A6%80token=***"
        );
    }
}
