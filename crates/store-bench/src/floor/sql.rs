//! The SQL floors: plain sqlx queries on a table of (key, value, version,
//! expiry), one statement per operation, on a pool of the same size and
//! settings as our store's.

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use sqlx::{PgPool, SqlitePool};

use crate::Workload;
use crate::target::{Session, TTL, Target, floor_refresh, now_ms};

fn expires() -> i64 {
    (now_ms() + TTL.as_millis() as u64) as i64
}

/// Each statement once, with `{t}` for the table and `$n` parameters
/// (rewritten to `?n` for SQLite).
struct Statements {
    get: String,
    upsert: String,
    create: String,
    update_if: String,
    touch: String,
    delete: String,
}

impl Statements {
    fn new(table: &str, sqlite: bool) -> Self {
        let s = |sql: &str| {
            let sql = sql.replace("{t}", table);
            if sqlite { sql.replace('$', "?") } else { sql }
        };
        Self {
            get: s("SELECT value FROM {t} WHERE key = $1 AND expires_at > $2"),
            upsert: s(
                "INSERT INTO {t} (key, value, version, expires_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 version = {t}.version + 1, expires_at = excluded.expires_at",
            ),
            create: s("INSERT INTO {t} (key, value, version, expires_at) VALUES ($1, $2, 1, $3)"),
            update_if: s(
                "UPDATE {t} SET value = $1, version = version + 1, expires_at = $2 \
                 WHERE key = $3 AND version = $4 AND expires_at > $5 RETURNING version",
            ),
            touch: s("UPDATE {t} SET expires_at = $1 WHERE key = $2 AND expires_at > $3"),
            delete: s("DELETE FROM {t} WHERE key = $1"),
        }
    }
}

fn session_key(session: &Session) -> Result<&String> {
    session.downcast_ref::<String>().context("not a key")
}

macro_rules! sql_floor {
    ($name:ident, $pool:ty, $sqlite:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            pool: $pool,
            table: String,
            sql: Statements,
        }

        impl $name {
            /// A floor on `pool`, in a new table `table`.
            pub async fn create_table(pool: $pool, table: &str) -> Result<Self> {
                let ddl = format!(
                    "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value {}, \
                     version BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
                    if $sqlite { "BLOB" } else { "BYTEA" }
                );
                sqlx::query(&ddl).execute(&pool).await?;
                Ok(Self {
                    pool,
                    table: table.to_owned(),
                    sql: Statements::new(table, $sqlite),
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
                let row: Option<(i64,)> = sqlx::query_as(&self.sql.update_if)
                    .bind(&value[..])
                    .bind(expires())
                    .bind(key)
                    .bind(version as i64)
                    .bind(now_ms() as i64)
                    .fetch_optional(&self.pool)
                    .await?;
                let (new,) = row.ok_or_else(|| anyhow!("update_if: version mismatch"))?;
                Ok(new as u64)
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

sql_floor!(
    PostgresFloor,
    PgPool,
    false,
    "Plain sqlx statements on PostgreSQL."
);
sql_floor!(
    SqliteFloor,
    SqlitePool,
    true,
    "Plain sqlx statements on a SQLite file."
);
