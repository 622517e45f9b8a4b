//! SQL identifiers (table and schema names): checked once when a store is
//! built, then always written double-quoted into the statements.

use store_core::{Error, ErrorKind, Result};

/// The longest table name accepted, in bytes. Postgres keeps 63 bytes of an
/// identifier; the longest name derived from a table
/// (`<table>_expires_at_idx`) must fit in them.
pub const MAX_TABLE_LEN: usize = 48;

/// The longest Postgres schema name accepted, in bytes.
pub const MAX_SCHEMA_LEN: usize = 63;

/// Checks that `name` is a plain lowercase SQL identifier: 1 to `max_len`
/// bytes of `a-z`, `0-9` and `_`, not starting with a digit, and not one of
/// the `reserved` prefixes. Lowercase only, so the name means the same
/// quoted or not in `psql` and `sqlite3`.
pub(crate) fn check(what: &str, name: &str, max_len: usize, reserved: &[&str]) -> Result<()> {
    let bad = |why: String| {
        Err(Error::new(
            ErrorKind::Config,
            format!("invalid {what} name {name:?}: {why}"),
        ))
    };
    if name.is_empty() || name.len() > max_len {
        return bad(format!("it must be 1 to {max_len} bytes long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return bad("use only lowercase ASCII letters, digits and '_'".to_owned());
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return bad("it must not start with a digit".to_owned());
    }
    if let Some(prefix) = reserved.iter().find(|p| name.starts_with(**p)) {
        return bad(format!(
            "names starting with {prefix:?} are reserved by the database"
        ));
    }
    Ok(())
}

/// `name` double-quoted. Only for names that passed [`check`], which
/// cannot contain a quote.
pub(crate) fn quote(name: &str) -> String {
    debug_assert!(!name.contains('"'));
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for name in ["store", "sessions_v2", "_x", "a"] {
            assert!(check("table", name, MAX_TABLE_LEN, &[]).is_ok(), "{name}");
        }
        assert!(check("table", &"a".repeat(MAX_TABLE_LEN), MAX_TABLE_LEN, &[]).is_ok());
    }

    #[test]
    fn rejects_everything_else_with_a_config_error() {
        let long = "a".repeat(MAX_TABLE_LEN + 1);
        for name in [
            "", "Sessions", "a-b", "a b", "1st", "a\"b", "a;drop", "ä", &long,
        ] {
            let err = check("table", name, MAX_TABLE_LEN, &[]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{name}");
            assert!(err.message().starts_with("invalid table name"), "{err}");
        }
        let err = check("schema", "pg_temp", MAX_SCHEMA_LEN, &["pg_"]).unwrap_err();
        assert!(err.message().contains("reserved"), "{err}");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote("store"), "\"store\"");
    }
}
