//! Hiding credentials in connection URLs before they reach a log, a `Debug`
//! output or an error message.

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

/// Whether a query parameter may carry a secret: `pass`, `passwd`, any
/// name containing `password`, `secret` or `token` (MongoDB's
/// `tlsCertificateKeyFilePassword`), and MongoDB's
/// `authMechanismProperties`, which can hold an AWS session token.
/// The name is read as servers read it, percent-decoded (`pass%77ord` is
/// `password`).
fn is_secret_param(name: &str) -> bool {
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
