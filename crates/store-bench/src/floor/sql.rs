//! The SQL floors: plain sqlx queries on a table of (key, value, version,
//! expiry), one statement per operation, on a pool of the same size and
//! settings as our store's.

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use sqlx::{MySqlPool, PgPool, SqlitePool};

use crate::Workload;
use crate::target::{Session, TTL, Target, floor_refresh, now_ms};

fn expires() -> i64 {
    (now_ms() + TTL.as_millis() as u64) as i64
}

/// The database a floor runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Postgres,
    Sqlite,
    MySql,
}

/// Each statement once, with `{t}` for the table and `$n` parameters
/// (rewritten to `?n` for SQLite and to `?` for MySQL, whose parameters
/// appear in number order).
struct Statements {
    ddl: String,
    get: String,
    upsert: String,
    create: String,
    update_if: String,
    touch: String,
    delete: String,
}

impl Statements {
    fn new(table: &str, flavor: Flavor) -> Self {
        let s = |sql: &str| {
            let sql = sql.replace("{t}", table);
            match flavor {
                Flavor::Postgres => sql,
                Flavor::Sqlite => sql.replace('$', "?"),
                Flavor::MySql => {
                    let mut out = String::with_capacity(sql.len());
                    let mut chars = sql.chars().peekable();
                    while let Some(c) = chars.next() {
                        if c == '$' {
                            out.push('?');
                            while chars.peek().is_some_and(char::is_ascii_digit) {
                                chars.next();
                            }
                        } else {
                            out.push(c);
                        }
                    }
                    out
                }
            }
        };
        let (key_type, value_type) = match flavor {
            Flavor::Postgres => ("TEXT", "BYTEA"),
            Flavor::Sqlite => ("TEXT", "BLOB"),
            Flavor::MySql => ("VARBINARY(512)", "LONGBLOB"),
        };
        let (upsert, update_if) = match flavor {
            Flavor::MySql => (
                "INSERT INTO {t} (k, value, version, expires_at) VALUES ($1, $2, 1, $3) \
                 ON DUPLICATE KEY UPDATE value = VALUES(value), version = version + 1, \
                 expires_at = VALUES(expires_at)",
                // No RETURNING: the new version comes back as the
                // statement's LAST_INSERT_ID.
                "UPDATE {t} SET value = $1, version = LAST_INSERT_ID(version + 1), \
                 expires_at = $2 WHERE k = $3 AND version = $4 AND expires_at > $5",
            ),
            Flavor::Postgres | Flavor::Sqlite => (
                "INSERT INTO {t} (k, value, version, expires_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (k) DO UPDATE SET value = excluded.value, \
                 version = {t}.version + 1, expires_at = excluded.expires_at",
                "UPDATE {t} SET value = $1, version = version + 1, expires_at = $2 \
                 WHERE k = $3 AND version = $4 AND expires_at > $5 RETURNING version",
            ),
        };
        Self {
            ddl: format!(
                "CREATE TABLE IF NOT EXISTS {table} (k {key_type} PRIMARY KEY, \
                 value {value_type} NOT NULL, version BIGINT NOT NULL, expires_at BIGINT NOT NULL)"
            ),
            get: s("SELECT value FROM {t} WHERE k = $1 AND expires_at > $2"),
            upsert: s(upsert),
            create: s("INSERT INTO {t} (k, value, version, expires_at) VALUES ($1, $2, 1, $3)"),
            update_if: s(update_if),
            touch: s("UPDATE {t} SET expires_at = $1 WHERE k = $2 AND expires_at > $3"),
            delete: s("DELETE FROM {t} WHERE k = $1"),
        }
    }
}

fn session_key(session: &Session) -> Result<&String> {
    session.downcast_ref::<String>().context("not a key")
}

macro_rules! sql_floor {
    ($name:ident, $pool:ty, $flavor:expr, $update_if:ident, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            pool: $pool,
            table: String,
            sql: Statements,
        }

        impl $name {
            /// A floor on `pool`, in a new table `table`.
            pub async fn create_table(pool: $pool, table: &str) -> Result<Self> {
                let sql = Statements::new(table, $flavor);
                sqlx::query(&sql.ddl).execute(&pool).await?;
                Ok(Self {
                    pool,
                    table: table.to_owned(),
                    sql,
                })
            }
        }

        #[async_trait]
        impl Target for $name {
            fn runs(&self, _workload: Workload) -> bool {
                true
            }

            async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
                for chunk in keys.chunks(500) {
                    let mut tx = self.pool.begin().await?;
                    for k in chunk {
                        sqlx::query(&self.sql.upsert)
                            .bind(k)
                            .bind(&value[..])
                            .bind(expires())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                }
                let reset = format!("UPDATE {} SET version = 1", self.table);
                sqlx::query(&reset).execute(&self.pool).await?;
                Ok(vec![1; keys.len()])
            }

            async fn get(&self, key: &str) -> Result<Option<Bytes>> {
                let row: Option<(Vec<u8>,)> = sqlx::query_as(&self.sql.get)
                    .bind(key)
                    .bind(now_ms() as i64)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(v,)| Bytes::from(v)))
            }

            async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
                sqlx::query(&self.sql.upsert)
                    .bind(key)
                    .bind(&value[..])
                    .bind(expires())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
                sqlx::query(&self.sql.create)
                    .bind(key)
                    .bind(&value[..])
                    .bind(expires())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
                let query = sqlx::query(&self.sql.update_if)
                    .bind(&value[..])
                    .bind(expires())
                    .bind(key)
                    .bind(version as i64)
                    .bind(now_ms() as i64);
                let new = $update_if(&self.pool, query).await?;
                Ok(new.ok_or_else(|| anyhow!("update_if: version mismatch"))? as u64)
            }

            async fn session_touch(&self, session: &mut Session) -> Result<()> {
                let key = session_key(session)?;
                let done = sqlx::query(&self.sql.touch)
                    .bind(expires())
                    .bind(key)
                    .bind(now_ms() as i64)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() != 1 {
                    bail!("a live session is missing");
                }
                Ok(())
            }

            async fn session_delete(&self, session: Session) -> Result<()> {
                let key = session
                    .downcast::<String>()
                    .map_err(|_| anyhow!("not a key"))?;
                let done = sqlx::query(&self.sql.delete)
                    .bind(key.as_str())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() != 1 {
                    bail!("a live session was not deleted");
                }
                Ok(())
            }

            async fn refresh(&self, user: usize) -> Result<bool> {
                floor_refresh(self, &format!("tok:u{user}")).await
            }

            async fn cleanup(&self) -> Result<()> {
                let drop = format!("DROP TABLE IF EXISTS {}", self.table);
                sqlx::query(&drop).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

/// The version an `UPDATE … RETURNING version` wrote, if it matched.
async fn returned_version<'q, DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
) -> Result<Option<i64>>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use sqlx::Row as _;
    let row = query.fetch_optional(pool).await?;
    Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
}

/// The version a MySQL `UPDATE` set with `LAST_INSERT_ID`, if it matched.
async fn last_insert_version<'q>(
    pool: &MySqlPool,
    query: sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>,
) -> Result<Option<i64>> {
    let done = query.execute(pool).await?;
    Ok((done.rows_affected() == 1).then_some(done.last_insert_id() as i64))
}

sql_floor!(
    PostgresFloor,
    PgPool,
    Flavor::Postgres,
    returned_version,
    "Plain sqlx statements on PostgreSQL."
);
sql_floor!(
    SqliteFloor,
    SqlitePool,
    Flavor::Sqlite,
    returned_version,
    "Plain sqlx statements on a SQLite file."
);
sql_floor!(
    MySqlFloor,
    MySqlPool,
    Flavor::MySql,
    last_insert_version,
    "Plain sqlx statements on MySQL or MariaDB."
);
