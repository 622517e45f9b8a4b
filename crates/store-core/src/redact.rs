//! Hiding credentials in connection URLs before they reach a log, a `Debug`
//! output or an error message.

/// The URL with its password replaced by `***`: the password of the
/// user-info part, and the values of query parameters that may hold a
/// secret: `pass`, `passwd`, any name containing `password`, `secret` or
/// `token`, and `authMechanismProperties` (as in
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
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "pass" | "passwd" | "authmechanismproperties")
        || ["password", "secret", "token"]
            .iter()
            .any(|part| name.contains(part))
}

fn redact_user_info(url: &str, scheme_end: usize) -> String {
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    // The authority ends at the first '/', '?' or '#'; user info ends at
    // the last '@' inside it (a password may itself contain '@').
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user_info = &authority[..at];
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
}
