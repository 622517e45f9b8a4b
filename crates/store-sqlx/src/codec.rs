//! Store values to and from the columns of a row, shared by every
//! database: the parameters of a statement ([`Arg`]) and how they are
//! bound, the columns of a row and the [`Entry`] they make.

use std::future::Future;

use bytes::Bytes;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use store_core::{
    Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, Result, ScanCursor, ScanPage, Version,
};

/// One parameter of a statement, bound in order (`$1`/`?1` first). Each
/// dialect binds [`Arg::Time`] as its own expiry type.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// A key, an owner, a name.
    Text(&'a str),
    /// An owner or nothing.
    OptText(Option<&'a str>),
    /// A value.
    Bytes(&'a Bytes),
    /// A version, a row count.
    Int(i64),
    /// An expiry (`None`: never), or the current time.
    Time(Option<Expiry>),
}

impl<'a> Arg<'a> {
    /// The current time, as bound into every statement that looks at
    /// expiry.
    pub(crate) fn now(now: Expiry) -> Self {
        Self::Time(Some(now))
    }

    /// An optional owner.
    pub(crate) fn owner(owner: Option<&'a Owner>) -> Self {
        Self::OptText(owner.map(Owner::as_str))
    }
}

/// The columns of an entry row as the database returned them, before they
/// are checked: expiry in milliseconds since the Unix epoch.
#[derive(Debug)]
pub struct Columns {
    pub(crate) value: Vec<u8>,
    pub(crate) version: i64,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) owner: Option<String>,
}

/// Where a statement runs: on a connection of the pool, or on one the
/// store holds (a transaction's, the writer's).
#[allow(missing_debug_implementations)]
pub enum On<'a, DB: Database> {
    /// A connection of the pool, for this statement only.
    Pool(&'a Pool<DB>),
    /// A connection the store holds.
    Conn(&'a mut DB::Connection),
}

/// How the database's expiry column maps to milliseconds since the epoch.
pub trait Codec: Database {
    /// The Rust type of the expiry column.
    type Time: Copy + Send + Sync + 'static;
    /// An expiry as the column's type.
    fn time(at: Expiry) -> Self::Time;
    /// The column's value in milliseconds since the Unix epoch.
    fn millis(at: Self::Time) -> i64;
    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
    /// The value a statement gave `LAST_INSERT_ID(…)`: how MySQL's
    /// `Create` reports a live entry it left alone (0 elsewhere).
    fn last_insert_id(done: &Self::QueryResult) -> u64 {
        let _ = done;
        0
    }
}

/// The driver calls the store makes, written once for any database whose
/// sqlx types fit.
pub trait Driver: Codec {
    /// The rows `sql` returns.
    fn rows<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<Vec<Self::Row>, sqlx::Error>> + Send + 'a;

    /// The first column of each row `sql` returns, as integers.
    fn ints<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<Vec<i64>, sqlx::Error>> + Send + 'a;

    /// How many rows `sql` changed.
    fn execute<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<u64, sqlx::Error>> + Send + 'a;

    /// How many rows `sql` changed, and the value it gave
    /// `LAST_INSERT_ID(…)`.
    fn execute_id<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<(u64, u64), sqlx::Error>> + Send + 'a;

    /// The text column `column` of `row`.
    fn text(row: &Self::Row, column: &str) -> std::result::Result<String, sqlx::Error>;

    /// The entry columns of `row`.
    fn columns(row: &Self::Row) -> std::result::Result<Columns, sqlx::Error>;
}

fn bind<'a, DB: Codec>(
    sql: &'a str,
    args: &'a [Arg<'a>],
) -> sqlx::query::Query<'a, DB, DB::Arguments<'a>>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> DB::Time: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
{
    args.iter().fold(sqlx::query(sql), |query, arg| match *arg {
        Arg::Text(s) => query.bind(s),
        Arg::OptText(s) => query.bind(s),
        Arg::Bytes(b) => query.bind(&b[..]),
        Arg::Int(i) => query.bind(i),
        Arg::Time(t) => query.bind(t.map(DB::time)),
    })
}

impl<DB: Codec> Driver for DB
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DB::Time: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    fn rows<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<Vec<Self::Row>, sqlx::Error>> + Send + 'a {
        let query = bind::<DB>(sql, args);
        async move {
            match on {
                On::Pool(pool) => query.fetch_all(pool).await,
                On::Conn(conn) => query.fetch_all(conn).await,
            }
        }
    }

    #[allow(clippy::manual_async_fn)] // the trait's future must be `Send`
    fn ints<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<Vec<i64>, sqlx::Error>> + Send + 'a {
        async move {
            let rows = Self::rows(on, sql, args).await?;
            rows.iter().map(|row| row.try_get::<i64, _>(0)).collect()
        }
    }

    fn execute<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<u64, sqlx::Error>> + Send + 'a {
        let query = bind::<DB>(sql, args);
        async move {
            let done = match on {
                On::Pool(pool) => query.execute(pool).await?,
                On::Conn(conn) => query.execute(conn).await?,
            };
            Ok(DB::rows_affected(&done))
        }
    }

    fn execute_id<'a>(
        on: On<'a, Self>,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = std::result::Result<(u64, u64), sqlx::Error>> + Send + 'a {
        let query = bind::<DB>(sql, args);
        async move {
            let done = match on {
                On::Pool(pool) => query.execute(pool).await?,
                On::Conn(conn) => query.execute(conn).await?,
            };
            Ok((DB::rows_affected(&done), DB::last_insert_id(&done)))
        }
    }

    fn text(row: &Self::Row, column: &str) -> std::result::Result<String, sqlx::Error> {
        row.try_get(column)
    }

    fn columns(row: &Self::Row) -> std::result::Result<Columns, sqlx::Error> {
        Ok(Columns {
            value: row.try_get("value")?,
            version: row.try_get("version")?,
            expires_at_ms: row
                .try_get::<Option<DB::Time>, _>("expires_at")?
                .map(DB::millis),
            owner: row.try_get("owner")?,
        })
    }
}

/// The entry of one row. A row that no store could have written (an owner
/// or key outside the contract, an expiry outside its range) is an
/// `Encoding` error naming the column, never a panic and never a guess.
pub(crate) fn from_columns(
    backend: &'static str,
    operation: Operation,
    columns: Columns,
) -> Result<Entry> {
    let expires_at = columns
        .expires_at_ms
        .map(Expiry::from_unix_millis)
        .transpose()
        .map_err(|_| bad_column(backend, operation, "expires_at"))?;
    let owner = columns
        .owner
        .map(Owner::new)
        .transpose()
        .map_err(|_| bad_column(backend, operation, "owner"))?;
    Ok(Entry::new(
        Bytes::from(columns.value),
        Version::from_i64(columns.version),
    )
    .with_expiry(expires_at)
    .with_owner(owner))
}

/// The key of a row returned by an owner listing.
pub(crate) fn key_column(backend: &'static str, operation: Operation, key: String) -> Result<Key> {
    Key::new(key).map_err(|_| bad_column(backend, operation, "key"))
}

fn bad_column(backend: &'static str, operation: Operation, column: &str) -> Error {
    Error::new(
        ErrorKind::Encoding,
        format!("a stored row has an invalid {column} column (not written by this store?)"),
    )
    .in_context(backend, operation)
}

/// A scan page from rows in key order (`key` text, decoded entry): live
/// entries returned, expired ones counted, undecodable ones named. A full
/// page (`limit` rows) goes on after its last key.
pub(crate) fn scan_page(rows: Vec<(String, Result<Entry>)>, now: Expiry, limit: usize) -> ScanPage {
    let next = if rows.len() >= limit {
        rows.last().map(|(k, _)| ScanCursor::after_key(k))
    } else {
        None
    };
    let mut entries = Vec::with_capacity(rows.len());
    let mut expired = 0;
    let mut unreadable = Vec::new();
    for (raw, entry) in rows {
        match (Key::new(raw.as_str()), entry) {
            (Ok(key), Ok(entry)) => {
                if entry.expires_at.is_some_and(|e| e.is_expired_at(now)) {
                    expired += 1;
                } else {
                    entries.push((key, entry));
                }
            }
            _ => unreadable.push(raw),
        }
    }
    ScanPage::new(entries)
        .with_expired(expired)
        .with_unreadable(unreadable)
        .with_next(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(version: i64, expires_at_ms: Option<i64>, owner: Option<&str>) -> Columns {
        Columns {
            value: b"v".to_vec(),
            version,
            expires_at_ms,
            owner: owner.map(str::to_owned),
        }
    }

    #[test]
    fn builds_an_entry_and_rejects_bad_columns() {
        let e = from_columns("sqlite", Operation::Get, columns(-1, Some(5), Some("o"))).unwrap();
        assert_eq!(e.version, Version::from_u64(u64::MAX));
        assert_eq!(e.expires_at.unwrap().as_unix_millis(), 5);
        assert_eq!(e.owner.unwrap().as_str(), "o");

        let err = from_columns("sqlite", Operation::Get, columns(1, Some(-5), None)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding);
        assert!(err.message().contains("expires_at"), "{err}");
        let err = from_columns("sqlite", Operation::Get, columns(1, None, Some(""))).unwrap_err();
        assert!(err.message().contains("owner"), "{err}");
        let err = key_column("sqlite", Operation::ListByOwner, "a\u{0}b".into()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding);
    }
}

/// Property-based tests of reading rows back, with hostile column values:
/// an entry is built exactly when every column is within the contract,
/// otherwise the row is an `Encoding` error naming the bad column; never a
/// panic.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use store_core::{
        Entry, ErrorKind, Expiry, Key, MAX_KEY_LEN, MAX_OWNER_LEN, Operation, Version,
    };

    use super::{Columns, from_columns, key_column, scan_page};

    /// Text with control and multi-byte characters, sometimes long.
    fn text() -> impl Strategy<Value = String> {
        let char = prop_oneof![
            6 => proptest::char::range(' ', '~'),
            2 => any::<char>(),
            1 => proptest::char::range('\u{0}', '\u{1f}'),
            1 => proptest::char::range('\u{7f}', '\u{9f}'),
        ];
        prop_oneof![
            prop::collection::vec(char, 0..20).prop_map(String::from_iter),
            (MAX_OWNER_LEN - 2..=MAX_KEY_LEN + 2).prop_map(|n| "x".repeat(n)),
        ]
    }

    fn millis() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            -2i64..2,
            Expiry::MAX_UNIX_MILLIS - 2..Expiry::MAX_UNIX_MILLIS + 2,
            0..=Expiry::MAX_UNIX_MILLIS,
            Just(i64::MIN),
            Just(i64::MAX),
        ]
    }

    fn printable_within(s: &str, max: usize) -> bool {
        !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// `from_columns` accepts a row exactly when its expiry is absent or in
        /// range and its owner absent or a valid owner; the entry then holds
        /// the columns exactly (any `i64` version round-trips), else the error
        /// is `Encoding` naming the first bad column.
        #[test]
        fn rows_decode_exactly_or_name_the_bad_column(
            value in prop::collection::vec(any::<u8>(), 0..32),
            version in any::<i64>(),
            expires in prop::option::of(millis()),
            owner in prop::option::of(text()),
            postgres in any::<bool>(),
        ) {
            let backend = if postgres { "postgres" } else { "sqlite" };
            let expiry_ok = expires.is_none_or(|ms| (0..=Expiry::MAX_UNIX_MILLIS).contains(&ms));
            let owner_ok = owner.as_deref().is_none_or(|o| printable_within(o, MAX_OWNER_LEN));
            let got = from_columns(backend, Operation::Scan, Columns { value: value.clone(), version, expires_at_ms: expires, owner: owner.clone() });
            match got {
                Ok(entry) => {
                    prop_assert!(expiry_ok && owner_ok);
                    prop_assert_eq!(&entry.value[..], &value[..]);
                    prop_assert_eq!(entry.version.as_i64(), version);
                    prop_assert_eq!(entry.version, Version::from_i64(version));
                    prop_assert_eq!(entry.expires_at.map(Expiry::as_unix_millis), expires);
                    prop_assert_eq!(entry.owner.as_ref().map(|o| o.as_str().to_owned()), owner);
                }
                Err(e) => {
                    prop_assert!(!(expiry_ok && owner_ok));
                    prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                    prop_assert_eq!(e.backend(), Some(backend));
                    prop_assert_eq!(e.operation(), Some(Operation::Scan));
                    let column = if expiry_ok { "owner" } else { "expires_at" };
                    prop_assert!(e.message().contains(column), "{}", e);
                    // Never echoes the stored owner.
                    if let Some(o) = owner.as_deref().filter(|o| o.len() > 12) {
                        prop_assert!(!e.to_string().contains(o));
                    }
                }
            }
        }

        /// `key_column`: exactly the valid keys, else `Encoding` naming `key`.
        #[test]
        fn key_columns_decode_exactly(raw in text()) {
            match key_column("sqlite", Operation::ListByOwner, raw.clone()) {
                Ok(key) => {
                    prop_assert!(printable_within(&raw, MAX_KEY_LEN));
                    prop_assert_eq!(key.as_str(), raw.as_str());
                }
                Err(e) => {
                    prop_assert!(!printable_within(&raw, MAX_KEY_LEN));
                    prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                    prop_assert!(e.message().contains("key"));
                }
            }
        }

        /// `scan_page` over hostile rows: every row is exactly one of returned
        /// (valid key, decoded, live), counted as expired, or named unreadable
        /// (by its raw key text); a full page goes on after its last raw key.
        #[test]
        fn scan_pages_account_for_every_row(
            rows in prop::collection::vec(
                (text(), prop::option::of(millis()), prop::option::of(text())),
                0..12,
            ),
            now in 0..=Expiry::MAX_UNIX_MILLIS,
            limit in 1usize..14,
        ) {
            let now = Expiry::from_unix_millis(now).unwrap();
            let decoded: Vec<(String, store_core::Result<Entry>)> = rows
                .iter()
                .map(|(k, exp, owner)| {
                    let entry = from_columns("sqlite", Operation::Scan, Columns { value: b"v".to_vec(), version: 1, expires_at_ms: *exp, owner: owner.clone() });
                    (k.clone(), entry)
                })
                .collect();
            let mut want_live = Vec::new();
            let mut want_expired = 0u64;
            let mut want_unreadable = Vec::new();
            for (raw, entry) in &decoded {
                match (Key::new(raw), entry) {
                    (Ok(_), Ok(e)) if e.expires_at.is_some_and(|x| x <= now) => want_expired += 1,
                    (Ok(key), Ok(_)) => want_live.push(key),
                    _ => want_unreadable.push(raw.clone()),
                }
            }
            let last = decoded.last().map(|(k, _)| k.clone());
            let full = decoded.len() >= limit;
            let page = scan_page(decoded, now, limit);
            let live: Vec<Key> = page.entries.iter().map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(live, want_live);
            prop_assert_eq!(page.expired, want_expired);
            prop_assert_eq!(page.unreadable, want_unreadable);
            match (&page.next, full) {
                (Some(next), true) => prop_assert_eq!(next.key().ok(), last.as_deref().filter(|k| !k.is_empty())),
                (None, false) => {}
                (next, full) => prop_assert!(false, "next {next:?} for a full page: {full}"),
            }
        }
    }
}
