//! The database side of each operation, written once for every database:
//! the [`Dialect`] a database implements, the statements of a table, and
//! running them on the pool. (About 750 lines with its tests: every
//! operation's statements, the two ways a write reports its outcome and
//! the dialect's hooks belong together.)

use std::future::Future;

use bytes::Bytes;
use rand::Rng;
use sqlx::Pool;
use store_core::{
    Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode, PutOptions, Result, Version,
};

use crate::codec::{Arg, Driver, On, from_columns, key_column};
use crate::config::{SqlConfig, quote};
use crate::connect::SqlStore;
use crate::error::{CodeMeaning, Codes, classify, sqlx_code};
use crate::writer::{Outcome, Want};

/// A database a [`SqlStore`] runs on: implemented for [`sqlx::Postgres`]
/// (feature `postgres`) and [`sqlx::Sqlite`] (feature `sqlite`), and for
/// no other type. It names what differs between them: SQL text, the type
/// of the expiry column, error codes, pool options.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use store_sqlx::Dialect;
/// assert_eq!(<sqlx::Sqlite as Dialect>::BACKEND, store_sqlx::SQLITE);
/// # }
/// ```
pub trait Dialect: Driver {
    /// The backend name in errors and capabilities.
    const BACKEND: &'static str;
    /// The URL schemes the store opens, the canonical one first.
    const SCHEMES: &'static [&'static str];
    /// The store's name in `Debug`.
    const STORE_NAME: &'static str;
    /// The config's name in `Debug`.
    const CONFIG_NAME: &'static str;
    /// Whether the config has a busy timeout (SQLite's wait for the
    /// database lock).
    const BUSY_TIMEOUT: bool = false;
    /// Whether the config names a schema (else it is always
    /// [`DEFAULT_SCHEMA`](Self::DEFAULT_SCHEMA)).
    const NAMED_SCHEMA: bool;
    /// The schema of a config that names none.
    const DEFAULT_SCHEMA: &'static str;
    /// Schema name prefixes the database keeps for itself.
    const RESERVED_SCHEMAS: &'static [&'static str];
    /// Table name prefixes the database keeps for itself.
    const RESERVED_TABLES: &'static [&'static str];
    /// The error code that may mean "no such table".
    const MISSING_TABLE_CODE: &'static str;
    /// The columns of a store table and their types as the columns query
    /// of `setup()` reports them.
    const COLUMNS: [(&'static str, &'static str); 5];

    /// The dialect's part of the statements of table `table` in `schema`.
    fn sql(schema: &str, table: &str) -> Sql;

    /// What an error code (SQLSTATE, result code, error number) means for
    /// the store.
    fn meaning(code: &str) -> CodeMeaning;

    /// The code of a database error as [`meaning`](Self::meaning) reads it
    /// (default: the one sqlx gives, SQLSTATE or result code).
    fn error_code(db: &dyn sqlx::error::DatabaseError) -> String {
        sqlx_code(db)
    }

    /// Whether the counting deletes (`delete`, `delete_by_owner`) return
    /// the live rows they removed with `RETURNING` (else they remove live
    /// rows only and their count is the rows they changed).
    const RETURNING: bool = true;

    /// The code of a deadlock that rolled back the statement, which is then
    /// run again (a statement run on its own had no effect).
    const DEADLOCK_CODE: Option<&'static str> = None;

    /// Where parameters are bound in the order they appear (MySQL's `?`):
    /// the order of the `Update`/`UpdateIf` arguments (key, value, expiry,
    /// owner, new version, now, expected version) in its `UPDATE`, by
    /// index.
    const UPDATE_ORDER: Option<&'static [usize]> = None;

    /// The same for `touch` (key, expiry, now).
    const TOUCH_ORDER: Option<&'static [usize]> = None;

    /// Where one connection should run every write of a store opened on a
    /// database the process shares with no one else in it (SQLite: one
    /// writer at a time, the others sleeping in their busy handler): the
    /// statement that starts the transaction of writes queued together.
    /// Only the stores `connect` opens on a database file have the writer.
    const WRITER: Option<&'static str> = None;

    /// Every statement of table `table` in `schema` (default: the shared
    /// statements with the dialect's part from [`sql`](Self::sql)).
    fn statements(schema: &str, table: &str) -> Statements {
        Statements::new::<Self>(schema, table)
    }

    /// How the store reads this database's error codes.
    #[doc(hidden)]
    fn codes() -> Codes {
        Codes {
            code: Self::error_code,
            meaning: Self::meaning,
        }
    }

    /// Why `url` must not be opened, if it must not (a setting the driver
    /// would log with its secret value).
    fn refuse_url(_url: &str) -> Option<String> {
        None
    }

    /// Opens a pool on `url` with `config`'s pool settings; `true` when
    /// other processes can share the database.
    fn open_pool(
        url: &str,
        config: &SqlConfig<Self>,
    ) -> impl Future<Output = std::result::Result<(Pool<Self>, bool), sqlx::Error>> + Send;
}

/// How often a statement a deadlock rolled back is run in all.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// What differs between the statements of the databases.
#[derive(Debug)]
pub struct Sql {
    /// The table as written in statements (schema-qualified, quoted).
    pub(crate) table: String,
    /// The table as named in messages.
    pub(crate) shown: String,
    /// Statement parameter `n` (`$n`, `?n`).
    pub(crate) param: fn(u8) -> String,
    /// Appended to the purge's inner `SELECT` (row locks).
    pub(crate) purge_lock: &'static str,
    /// A condition every scanned row meets.
    pub(crate) scan_filter: Option<&'static str>,
    /// Deletes the rows whose `$1` column (`key`, `owner`) equals `$1`,
    /// returning one or more integers that add up to the live ones among
    /// them; `$2` is the current time.
    pub(crate) delete_counting: fn(table: &str, column: &str, live: &str) -> String,
    /// `setup()`'s statements.
    pub(crate) setup: Setup,
    /// How many tables named `$2` there are in schema `$1`.
    pub(crate) table_exists: String,
}

/// The statements of `setup()`, run in this order in one transaction.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The statement that starts the transaction.
    pub(crate) begin: &'static str,
    /// Statements before anything else (locks).
    pub(crate) first: Vec<String>,
    /// How many schemas are named `$1`, and the statement that creates it.
    pub(crate) schema: Option<(String, String)>,
    /// Statements that create the table when missing.
    pub(crate) create: Vec<String>,
    /// `name` and `type` of each column of table `$2` in schema `$1`.
    pub(crate) columns: String,
    /// What older versions of the store created beside the table and this
    /// one no longer uses: a query counting those objects of table `$2` in
    /// schema `$1`, and the statements that drop them, run (after the
    /// columns are checked) when it counts any.
    pub(crate) retired: Option<(String, Vec<String>)>,
    /// Statements after the columns are checked; the two indexes are added
    /// after them.
    pub(crate) rest: Vec<String>,
}

/// Where a statement runs (see [`SqlStore::via`]).
enum Via<D: sqlx::Database> {
    Pool,
    Held(crate::connect::Taken<D>),
}

/// A statement that writes: run by the database's writer where the store
/// has one ([`Dialect::WRITER`]), else on the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Upsert,
    Create,
    Update,
    UpdateIf,
    Delete,
    DeleteIf,
    Touch,
    Purge,
    DeleteOwner,
}

/// Every statement of one table, built once from its quoted names.
#[derive(Debug)]
pub struct Statements {
    pub(crate) dialect: Sql,
    pub(crate) get: String,
    pub(crate) live_version: String,
    pub(crate) upsert: String,
    pub(crate) create_entry: String,
    pub(crate) update: String,
    pub(crate) update_if: String,
    pub(crate) delete: String,
    pub(crate) delete_if: String,
    pub(crate) touch: String,
    pub(crate) purge: String,
    pub(crate) list_owner: String,
    pub(crate) delete_owner: String,
    pub(crate) scan_first: String,
    pub(crate) scan_after: String,
}

impl Statements {
    /// The text of a writing statement.
    pub(crate) fn write(&self, write: Write) -> &str {
        match write {
            Write::Upsert => &self.upsert,
            Write::Create => &self.create_entry,
            Write::Update => &self.update,
            Write::UpdateIf => &self.update_if,
            Write::Delete => &self.delete,
            Write::DeleteIf => &self.delete_if,
            Write::Touch => &self.touch,
            Write::Purge => &self.purge,
            Write::DeleteOwner => &self.delete_owner,
        }
    }

    pub(crate) fn new<D: Dialect>(schema: &str, table: &str) -> Self {
        let mut sql = D::sql(schema, table);
        let t = &sql.table;
        let index = |suffix: &str, columns: &str, column: &str| {
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} ({columns}) WHERE {column} IS NOT NULL",
                quote(&format!("{table}_{suffix}"))
            )
        };
        let indexes = [
            index("expires_at_idx", "expires_at", "expires_at"),
            index("owner_idx", "owner, key", "owner"),
        ];
        sql.setup.rest.extend(indexes);
        let (t, p) = (&sql.table, sql.param);
        let columns = "value, version, expires_at, owner";
        // The first parameter is always the key (or owner); `live` needs
        // the current time as parameter `n`. A write's parameters are key,
        // value, expiry, owner, new version, then the current time and the
        // expected version where it uses them.
        let live = |n: u8| format!("(expires_at IS NULL OR expires_at > {})", p(n));
        let insert = format!(
            "INSERT INTO {t} AS t (key, value, version, expires_at, owner) \
             VALUES ({}, {}, {}, {}, {}) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             version = excluded.version, expires_at = excluded.expires_at, owner = excluded.owner",
            p(1),
            p(2),
            p(5),
            p(3),
            p(4)
        );
        let update = format!(
            "UPDATE {t} SET value = {}, version = {}, expires_at = {}, owner = {} \
             WHERE key = {} AND {}",
            p(2),
            p(5),
            p(3),
            p(4),
            p(1),
            live(6)
        );
        let scan = |after: bool| {
            let mut conditions: Vec<String> = Vec::new();
            if after {
                conditions.push(format!("key > {}", p(1)));
            }
            conditions.extend(sql.scan_filter.map(str::to_owned));
            let filter = if conditions.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conditions.join(" AND "))
            };
            let limit = p(if after { 2 } else { 1 });
            format!("SELECT key, {columns} FROM {t}{filter} ORDER BY key LIMIT {limit}")
        };
        Self {
            get: format!(
                "SELECT {columns} FROM {t} WHERE key = {} AND {}",
                p(1),
                live(2)
            ),
            live_version: format!(
                "SELECT version FROM {t} WHERE key = {} AND {}",
                p(1),
                live(2)
            ),
            upsert: insert.clone(),
            create_entry: format!(
                "{insert} WHERE t.expires_at IS NOT NULL AND t.expires_at <= {}",
                p(6)
            ),
            update_if: format!("{update} AND version = {}", p(7)),
            update,
            delete: (sql.delete_counting)(t, "key", &live(2)),
            delete_if: format!(
                "DELETE FROM {t} WHERE key = {} AND {} AND version = {}",
                p(1),
                live(2),
                p(3)
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = {} WHERE key = {} AND {}",
                p(2),
                p(1),
                live(3)
            ),
            purge: format!(
                "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= {} \
                 ORDER BY expires_at LIMIT {}{})",
                p(1),
                p(2),
                sql.purge_lock
            ),
            list_owner: format!(
                "SELECT key, {columns} FROM {t} WHERE owner = {} AND {} ORDER BY key",
                p(1),
                live(2)
            ),
            delete_owner: (sql.delete_counting)(t, "owner", &live(2)),
            scan_first: scan(false),
            scan_after: scan(true),
            dialect: sql,
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Maps a failed statement's error. An error that may mean "no such
    /// table" is looked into: when this store's table does not exist the
    /// error says to call `setup()`.
    async fn run<T>(
        &self,
        op: Operation,
        result: std::result::Result<T, sqlx::Error>,
    ) -> Result<T> {
        let e = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let maybe_missing = matches!(&e, sqlx::Error::Database(db)
            if D::error_code(&**db) == D::MISSING_TABLE_CODE);
        let err = self.classify(e, op);
        if maybe_missing && op != Operation::Migrate && !self.table_exists().await {
            let message = format!(
                "table {} does not exist: call setup() once before using the store",
                self.sql.dialect.shown
            );
            return Err(Error::new(ErrorKind::Config, message)
                .in_context(D::BACKEND, op)
                .with_source(err));
        }
        Err(err)
    }

    pub(crate) fn classify(&self, e: sqlx::Error, op: Operation) -> Error {
        classify(e, D::BACKEND, op, self.limits, D::codes())
    }

    /// Where the next statement runs: on a connection kept from an earlier
    /// call (see [`Held`](crate::connect::Held)) or taken from the pool, or,
    /// where the store keeps none, on the pool itself.
    async fn via(&self) -> std::result::Result<Via<D>, sqlx::Error> {
        if self.held.on() {
            Ok(Via::Held(self.held.take(&self.pool).await?))
        } else {
            Ok(Via::Pool)
        }
    }

    fn on<'a>(&'a self, via: &'a mut Via<D>) -> On<'a, D> {
        match via {
            Via::Pool => On::Pool(&self.pool),
            Via::Held(taken) => On::Conn(&mut *taken.conn),
        }
    }

    /// Keeps the connection of a statement that succeeded; one whose
    /// statement failed goes back to the pool, which checks it.
    fn after<T>(&self, via: Via<D>, result: &std::result::Result<T, sqlx::Error>) {
        if let (Via::Held(taken), Ok(_)) = (via, result) {
            self.held.keep(taken);
        }
    }

    async fn table_exists(&self) -> bool {
        let args = [
            Arg::Text(&self.config.schema),
            Arg::Text(&self.config.table),
        ];
        D::ints(On::Pool(&self.pool), &self.sql.dialect.table_exists, &args)
            .await
            .is_ok_and(|n| n.first().is_some_and(|&n| n > 0))
    }

    /// Runs `call` again when the database rolled it back for a deadlock
    /// ([`Dialect::DEADLOCK_CODE`]): a statement run on its own had no
    /// effect then, so running it again is safe.
    async fn deadlock_retried<T, F>(
        mut call: impl FnMut() -> F,
    ) -> std::result::Result<T, sqlx::Error>
    where
        F: Future<Output = std::result::Result<T, sqlx::Error>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(sqlx::Error::Database(db))
                    if attempt < DEADLOCK_ATTEMPTS
                        && D::DEADLOCK_CODE.is_some_and(|code| D::error_code(&*db) == code) =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn rows(
        &self,
        op: Operation,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<D::Row>> {
        let result = Self::deadlock_retried(|| async move {
            let mut via = self.via().await?;
            let result = D::rows(self.on(&mut via), sql, args).await;
            self.after(via, &result);
            result
        })
        .await;
        self.run(op, result).await
    }

    pub(crate) async fn ints(
        &self,
        op: Operation,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<i64>> {
        let result = Self::deadlock_retried(|| async move {
            let mut via = self.via().await?;
            let result = D::ints(self.on(&mut via), sql, args).await;
            self.after(via, &result);
            result
        })
        .await;
        self.run(op, result).await
    }

    /// Runs a writing statement: through the database's writer where the
    /// store has one, else on the pool.
    async fn write(
        &self,
        op: Operation,
        write: Write,
        args: &[Arg<'_>],
        want: Want,
    ) -> Result<Outcome> {
        let result = match &self.writer {
            Some(writer) => writer.run(&self.sql, write, args, want).await,
            None => {
                let sql = self.sql.write(write);
                Self::deadlock_retried(|| async move {
                    let mut via = self.via().await?;
                    let on = self.on(&mut via);
                    let result = match want {
                        Want::Ints => D::ints(on, sql, args).await.map(|ints| Outcome {
                            ints,
                            ..Outcome::default()
                        }),
                        Want::Changed => {
                            D::execute_id(on, sql, args)
                                .await
                                .map(|(changed, id)| Outcome {
                                    changed,
                                    id,
                                    ..Outcome::default()
                                })
                        }
                    };
                    self.after(via, &result);
                    result
                })
                .await
            }
        };
        self.run(op, result).await
    }

    /// The rows a write changed and the value it gave `LAST_INSERT_ID(…)`
    /// (0 where it gave none).
    async fn write_changed(
        &self,
        op: Operation,
        write: Write,
        args: &[Arg<'_>],
    ) -> Result<(u64, u64)> {
        let done = self.write(op, write, args, Want::Changed).await?;
        Ok((done.changed, done.id))
    }

    /// The entry of `row`; a column that does not decode is an error for
    /// this row only.
    pub(crate) fn entry(&self, row: &D::Row, op: Operation) -> Result<Entry> {
        let columns = D::columns(row).map_err(|e| self.classify(e, op))?;
        from_columns(D::BACKEND, op, columns)
    }

    /// The `key` column of `row`.
    pub(crate) fn key_text(&self, row: &D::Row, op: Operation) -> Result<String> {
        D::text(row, "key").map_err(|e| self.classify(e, op))
    }

    /// One `SELECT` by primary key that skips an expired row.
    pub(crate) async fn get_entry(&self, key: &Key, now: Expiry) -> Result<Option<Entry>> {
        let op = Operation::Get;
        let args = [Arg::Text(key.as_str()), Arg::now(now)];
        let rows = self.rows(op, &self.sql.get, &args).await?;
        rows.first().map(|r| self.entry(r, op)).transpose()
    }

    /// The live version under `key`, if any: how a conditional statement
    /// that changed nothing is explained.
    async fn live_version(&self, key: &Key, now: Expiry, op: Operation) -> Result<Option<Version>> {
        let args = [Arg::Text(key.as_str()), Arg::now(now)];
        let versions = self.ints(op, &self.sql.live_version, &args).await?;
        Ok(versions.first().map(|&v| Version::from_i64(v)))
    }

    /// One statement per mode, with a new version drawn here
    /// ([`new_version`]); it wrote when it changed (MySQL: matched) a row
    /// and did not flag a live entry it left alone (MySQL's `Create`,
    /// through `LAST_INSERT_ID(1)`). The write is complete when the
    /// statement returns.
    pub(crate) async fn put_entry(
        &self,
        key: &Key,
        value: &Bytes,
        options: &PutOptions,
        now: Expiry,
    ) -> Result<Version> {
        let op = Operation::Put;
        let (write, expected) = match options.mode {
            PutMode::Upsert => (Write::Upsert, None),
            PutMode::Create => (Write::Create, None),
            PutMode::Update => (Write::Update, None),
            PutMode::UpdateIf(v) => (Write::UpdateIf, Some(v)),
        };
        let version = new_version();
        let mut args = vec![
            Arg::Text(key.as_str()),
            Arg::Bytes(value),
            Arg::Time(options.expires_at),
            Arg::owner(options.owner.as_ref()),
            Arg::Int(version.as_i64()),
        ];
        if options.mode != PutMode::Upsert {
            args.push(Arg::now(now));
        }
        if let Some(v) = expected {
            args.push(Arg::Int(v.as_i64()));
        }
        if matches!(options.mode, PutMode::Update | PutMode::UpdateIf(_)) {
            args = in_order(&args, D::UPDATE_ORDER);
        }
        let (changed, live_left) = self.write_changed(op, write, &args).await?;
        if changed > 0 && live_left == 0 {
            return Ok(version);
        }
        let current = match options.mode {
            PutMode::UpdateIf(_) => self.live_version(key, now, op).await?,
            _ => None,
        };
        Err(refused_put(D::BACKEND, options.mode, current))
    }

    /// One `DELETE`; with `if_version`, a read-only query afterwards tells
    /// a stale version (`VersionMismatch`) from a missing key (`false`).
    pub(crate) async fn delete_entry(
        &self,
        key: &Key,
        if_version: Option<Version>,
        now: Expiry,
    ) -> Result<bool> {
        let op = Operation::Delete;
        let Some(expected) = if_version else {
            let args = [Arg::Text(key.as_str()), Arg::now(now)];
            return Ok(self.count_live(op, Write::Delete, &args).await? > 0);
        };
        let args = [
            Arg::Text(key.as_str()),
            Arg::now(now),
            Arg::Int(expected.as_i64()),
        ];
        if self.write_changed(op, Write::DeleteIf, &args).await?.0 > 0 {
            return Ok(true);
        }
        let current = self.live_version(key, now, op).await?;
        refused_delete(D::BACKEND, expected, current)
    }

    /// One `UPDATE` of `expires_at` on a live row; `false` when there is
    /// none.
    pub(crate) async fn touch_entry(
        &self,
        key: &Key,
        expires_at: Expiry,
        now: Expiry,
    ) -> Result<bool> {
        let args = [
            Arg::Text(key.as_str()),
            Arg::Time(Some(expires_at)),
            Arg::now(now),
        ];
        let args = in_order(&args, D::TOUCH_ORDER);
        let (changed, _) = self
            .write_changed(Operation::Touch, Write::Touch, &args)
            .await?;
        Ok(changed > 0)
    }

    /// Batches of `DELETE … WHERE key IN (SELECT … LIMIT n)` until a batch
    /// comes back short.
    pub(crate) async fn purge(&self, now: Expiry) -> Result<u64> {
        let batch = self.config.purge_batch;
        let args = [Arg::now(now), Arg::Int(i64::from(batch))];
        let mut total = 0;
        loop {
            let (deleted, _) = self
                .write_changed(Operation::DeleteExpired, Write::Purge, &args)
                .await?;
            total += deleted;
            if deleted < u64::from(batch) {
                return Ok(total);
            }
        }
    }

    /// One `SELECT` through the `(owner, key)` index.
    pub(crate) async fn owner_entries(
        &self,
        owner: &Owner,
        now: Expiry,
    ) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        let args = [Arg::Text(owner.as_str()), Arg::now(now)];
        let rows = self.rows(op, &self.sql.list_owner, &args).await?;
        rows.iter()
            .map(|row| {
                let key = key_column(D::BACKEND, op, self.key_text(row, op)?)?;
                Ok((key, self.entry(row, op)?))
            })
            .collect()
    }

    /// One `DELETE` through the owner index, counting the rows that were
    /// still live.
    pub(crate) async fn delete_owner_entries(&self, owner: &Owner, now: Expiry) -> Result<u64> {
        let args = [Arg::Text(owner.as_str()), Arg::now(now)];
        self.count_live(Operation::DeleteByOwner, Write::DeleteOwner, &args)
            .await
    }

    /// How many live rows a counting `DELETE` removed: the integers it
    /// returns, or where there is no `RETURNING`, the rows it changed (it
    /// then removes live rows only).
    async fn count_live(&self, op: Operation, write: Write, args: &[Arg<'_>]) -> Result<u64> {
        if !D::RETURNING {
            return Ok(self.write_changed(op, write, args).await?.0);
        }
        let live = self.write(op, write, args, Want::Ints).await?.ints;
        Ok(u64::try_from(live.iter().sum::<i64>()).unwrap_or(0))
    }

    /// Creates what the table needs in one transaction (see
    /// [`Setup`]): a table of that name with other columns is a `Config`
    /// error and is left untouched.
    pub(crate) async fn create_table(&self) -> Result<()> {
        let op = Operation::Migrate;
        let err = |e| self.classify(e, op);
        let setup = &self.sql.dialect.setup;
        let names = [
            Arg::Text(&self.config.schema),
            Arg::Text(&self.config.table),
        ];
        let mut tx = self.pool.begin_with(setup.begin).await.map_err(err)?;
        for statement in &setup.first {
            D::execute(On::Conn(&mut *tx), statement, &[])
                .await
                .map_err(err)?;
        }
        if let Some((exists, create)) = &setup.schema {
            let found = D::ints(On::Conn(&mut *tx), exists, &names[..1])
                .await
                .map_err(err)?;
            if found.first() == Some(&0) {
                D::execute(On::Conn(&mut *tx), create, &[])
                    .await
                    .map_err(err)?;
            }
        }
        for statement in &setup.create {
            D::execute(On::Conn(&mut *tx), statement, &[])
                .await
                .map_err(err)?;
        }
        let rows = D::rows(On::Conn(&mut *tx), &setup.columns, &names)
            .await
            .map_err(err)?;
        let found = rows
            .iter()
            .map(|row| Ok((D::text(row, "name")?, D::text(row, "type")?)))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(err)?;
        check_columns(D::BACKEND, &self.sql.dialect.shown, &D::COLUMNS, &found)?;
        if let Some((count, drops)) = &setup.retired {
            let found = D::ints(On::Conn(&mut *tx), count, &names)
                .await
                .map_err(err)?;
            if found.first().is_some_and(|&n| n > 0) {
                for statement in drops {
                    D::execute(On::Conn(&mut *tx), statement, &[])
                        .await
                        .map_err(err)?;
                }
            }
        }
        for statement in &setup.rest {
            D::execute(On::Conn(&mut *tx), statement, &[])
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }
}

/// A new version: 64 bits from the thread's generator (seeded from the
/// operating system's, reseeded as it goes), never 0. Nothing is shared
/// between writers; a stale version matches a later write of the same key
/// with probability 2^-64 per write.
pub(crate) fn new_version() -> Version {
    Version::from_u64(rand::rng().random_range(1..=u64::MAX))
}

/// `args` in `order` (indices into `args`; those past its end are left
/// out), or as they are without an order.
fn in_order<'a>(args: &[Arg<'a>], order: Option<&[usize]>) -> Vec<Arg<'a>> {
    match order {
        Some(order) => order.iter().filter_map(|&i| args.get(i).copied()).collect(),
        None => args.to_vec(),
    }
}

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

/// Checks that a table `setup()` found (or created) has the store's
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
    fn an_upsert_that_returns_no_row_is_a_backend_error() {
        let err = refused_put("x", PutMode::Upsert, None);
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert_eq!(err.operation(), Some(Operation::Put));
    }

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
