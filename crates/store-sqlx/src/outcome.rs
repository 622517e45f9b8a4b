//! What a conditional statement that changed nothing means, and whether an
//! existing table has the store's columns: shared by both databases.

use store_core::{Error, ErrorKind, Operation, PutMode, Result, Version};

/// The error of a `put` whose statement wrote no row. `current` is the
/// live version read afterwards, needed (and read) only for `UpdateIf`.
pub(crate) fn refused_put(backend: &'static str, mode: PutMode, current: Option<Version>) -> Error {
    let err = match mode {
        PutMode::Upsert => Error::new(ErrorKind::Backend, "the upsert returned no row"),
        PutMode::Create => Error::already_exists(),
        PutMode::Update => Error::not_found(),
        PutMode::UpdateIf(expected) => match current {
            Some(current) if current != expected => Error::version_mismatch(),
            _ => Error::not_found(),
        },
    };
    err.in_context(backend, Operation::Put)
}

/// The result of a `delete(key, Some(expected))` that deleted nothing,
/// given the live version read afterwards: another version is a
/// `VersionMismatch`, no live entry is `false`.
pub(crate) fn refused_delete(
    backend: &'static str,
    expected: Version,
    current: Option<Version>,
) -> Result<bool> {
    match current {
        Some(current) if current != expected => {
            Err(Error::version_mismatch().in_context(backend, Operation::Delete))
        }
        _ => Ok(false),
    }
}

/// Checks that a table `migrate()` found (or created) has the store's
/// columns with the expected types (`found`: name and type as the database
/// reports them), so that a table of another library under the same name
/// is a clear `Config` error instead of a failure on every later call.
pub(crate) fn check_columns(
    backend: &'static str,
    table: &str,
    expected: &[(&str, &str)],
    found: &[(String, String)],
) -> Result<()> {
    for &(name, ty) in expected {
        let problem = match found.iter().find(|(n, _)| n == name) {
            None => format!("has no column {name}"),
            Some((_, t)) if t != ty => format!("has column {name} of type {t}, not {ty}"),
            Some(_) => continue,
        };
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "table {table} already exists but is not a store table: it {problem}; \
                 choose another table name"
            ),
        )
        .in_context(backend, Operation::Migrate));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_kinds() {
        let v = |n| Version::from_u64(n);
        let kind = |mode, cur| refused_put("x", mode, cur).kind();
        assert_eq!(kind(PutMode::Create, None), ErrorKind::AlreadyExists);
        assert_eq!(kind(PutMode::Update, None), ErrorKind::NotFound);
        assert_eq!(
            kind(PutMode::UpdateIf(v(1)), Some(v(2))),
            ErrorKind::VersionMismatch
        );
        assert_eq!(kind(PutMode::UpdateIf(v(1)), None), ErrorKind::NotFound);
        assert!(!refused_delete("x", v(1), None).unwrap());
        assert!(refused_delete("x", v(1), Some(v(2))).is_err());
    }

    #[test]
    fn columns_are_checked_by_name_and_type() {
        let expected = [("key", "text"), ("value", "bytea")];
        let found = |cols: &[(&str, &str)]| -> Vec<(String, String)> {
            cols.iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect()
        };
        assert!(
            check_columns(
                "x",
                "t",
                &expected,
                &found(&[("value", "bytea"), ("key", "text")])
            )
            .is_ok()
        );
        let err = check_columns("x", "t", &expected, &found(&[("key", "integer")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.message()
                .contains("column key of type integer, not text"),
            "{err}"
        );
    }
}
