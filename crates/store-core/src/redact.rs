//! Hiding credentials in connection URLs before they reach a log, a `Debug`
//! output or an error message.

/// The URL with the password of its user-info part replaced by `***`.
///
/// Works on any `scheme://user:password@host…` URL (Redis, Postgres,
/// MongoDB, with several comma-separated hosts too) without parsing the
/// rest, so a malformed URL is still redacted. A URL without a password is
/// returned unchanged.
///
/// ```
/// use store_core::redact_url;
/// assert_eq!(redact_url("redis://app:s3cret@cache:6379/0"), "redis://app:***@cache:6379/0");
/// assert_eq!(redact_url("redis://:s3cret@cache"), "redis://:***@cache");
/// assert_eq!(redact_url("postgres://app@db/sessions"), "postgres://app@db/sessions");
/// assert_eq!(redact_url("mongodb://u:p@a:1,b:2/?tls=true"), "mongodb://u:***@a:1,b:2/?tls=true");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
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
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("redis://h/0?a=b@c"), "redis://h/0?a=b@c");
    }
}
