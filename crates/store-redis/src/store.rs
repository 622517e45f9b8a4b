//! The [`Store`] implementation of [`RedisStore`]: each call checks its
//! input, then does its work on the server within the store's
//! [`operation_timeout`](crate::RedisConfig::operation_timeout).

use bytes::Bytes;
use redis::Value;
use store_core::scan::check_limit;
use store_core::{
    Capabilities, Entry, Error, Expiry, Key, Operation, Owner, PutMode, PutOptions, PutResult,
    Result, ScanCursor, ScanPage, Store, Version, async_trait, validate, within,
};

use crate::BACKEND;
use crate::codec::{decode_entry, decode_owned, expiry_field, header_tail, version_field};
use crate::connect::RedisStore;
use crate::error::{bad_reply, classify, in_ctx};
use crate::query::{DELETE, DELETE_OWNER, LIST_OWNER, PUT, Reply, TOUCH, entry_key};

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for RedisStore {
    /// One `GET`; Redis itself hides an expired key.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        in_ctx(validate::key(&self.caps, key), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let redis_key = entry_key(self.base_of(key), key);
            let mut conn = self.conn.clone();
            let reply: Value = redis::cmd("GET")
                .arg(&redis_key)
                .query_async(&mut conn)
                .await
                .map_err(|e| classify(e, op))?;
            match reply {
                Value::Nil => Ok(None),
                Value::BulkString(blob) => decode_entry(Bytes::from(blob), op).map(Some),
                _ => Err(bad_reply(op)),
            }
        })
        .await
    }

    /// One script: checks the mode against the current entry, writes the
    /// whole entry with a fresh version and native expiry, and moves the key
    /// between owner sets.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        in_ctx(validate::key(&self.caps, key), op)?;
        in_ctx(validate::value(&self.caps, &value), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            let redis_key = entry_key(base, key);
            let (mode, expected): (&[u8], String) = match options.mode {
                PutMode::Upsert => (b"U", String::new()),
                PutMode::Create => (b"C", String::new()),
                PutMode::Update => (b"P", String::new()),
                PutMode::UpdateIf(v) => (b"I", version_field(v)),
            };
            let expiry = options
                .expires_at
                .map(|e| e.as_unix_millis().to_string())
                .unwrap_or_default();
            let owner = options.owner.as_ref().map(Owner::as_str).unwrap_or("");
            let tail = header_tail(options.expires_at, owner);
            let reply = self
                .eval(
                    &PUT,
                    &[&redis_key, base.counter.as_bytes()],
                    &[
                        mode,
                        &value,
                        expiry.as_bytes(),
                        owner.as_bytes(),
                        expected.as_bytes(),
                        base.owners.as_bytes(),
                        key.as_str().as_bytes(),
                        &tail,
                    ],
                    op,
                )
                .await?;
            let mut reply = Reply::new(reply, op)?;
            match reply.status.as_slice() {
                b"ok" => Ok(PutResult::new(reply.version()?)),
                b"exists" => Err(Error::already_exists().in_context(BACKEND, op)),
                b"missing" => Err(Error::not_found().in_context(BACKEND, op)),
                b"mismatch" => Err(Error::version_mismatch().in_context(BACKEND, op)),
                b"past" => Err(reply.past(options.expires_at, op)),
                other => Err(reply.unexpected(other)),
            }
        })
        .await
    }

    /// One script: rewrites the 15 expiry bytes of the header in place and
    /// moves the native expiry (of the entry and its owner set); value and
    /// version untouched.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        in_ctx(validate::key(&self.caps, key), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            let redis_key = entry_key(base, key);
            let expiry = expires_at.as_unix_millis().to_string();
            let reply = self
                .eval(
                    &TOUCH,
                    &[&redis_key],
                    &[
                        expiry.as_bytes(),
                        base.owners.as_bytes(),
                        key.as_str().as_bytes(),
                        expiry_field(Some(expires_at)).as_bytes(),
                    ],
                    op,
                )
                .await?;
            let mut reply = Reply::new(reply, op)?;
            match reply.status.as_slice() {
                b"ok" => Ok(()),
                b"missing" => Err(Error::not_found().in_context(BACKEND, op)),
                b"past" => Err(reply.past(Some(expires_at), op)),
                other => Err(reply.unexpected(other)),
            }
        })
        .await
    }

    /// One script: deletes the entry (if it still has `version`) and its
    /// owner-set membership.
    async fn delete(&self, key: &Key, version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        in_ctx(validate::key(&self.caps, key), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            let redis_key = entry_key(base, key);
            let expected = version.map(version_field).unwrap_or_default();
            let reply = self
                .eval(
                    &DELETE,
                    &[&redis_key],
                    &[
                        expected.as_bytes(),
                        base.owners.as_bytes(),
                        key.as_str().as_bytes(),
                    ],
                    op,
                )
                .await?;
            let reply = Reply::new(reply, op)?;
            match reply.status.as_slice() {
                b"ok" => Ok(true),
                b"missing" => Ok(false),
                b"mismatch" => Err(Error::version_mismatch().in_context(BACKEND, op)),
                other => Err(reply.unexpected(other)),
            }
        })
        .await
    }

    /// Always `Ok(0)`, without asking the server: Redis deletes expired
    /// keys by itself (lazily on access and by its active expiry cycle), and
    /// owner sets expire with their last member. Nothing is enumerated.
    async fn delete_expired(&self) -> Result<u64> {
        Ok(0)
    }

    /// One script per bucket (run concurrently), each reading the owner's
    /// set and its live entries atomically; stale members are removed.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        within(self.config.operation_timeout, BACKEND, op, async {
            let replies = self.on_owner_sets(&LIST_OWNER, owner, op).await?;
            let mut all = Vec::new();
            for reply in replies {
                all.extend(decode_owned(reply)?);
            }
            all.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(all)
        })
        .await
    }

    /// One script per bucket (run concurrently), each deleting the owner's
    /// live entries and set atomically within its hash slot.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        within(self.config.operation_timeout, BACKEND, op, async {
            let mut deleted = 0;
            for reply in self.on_owner_sets(&DELETE_OWNER, owner, op).await? {
                match reply {
                    Value::Int(n) => deleted += u64::try_from(n).map_err(|_| bad_reply(op))?,
                    _ => return Err(bad_reply(op)),
                }
            }
            Ok(deleted)
        })
        .await
    }

    /// Pages of one `SCAN <cursor> MATCH <namespace>:{*}:e:* COUNT <limit>`
    /// (about `limit` names; a page may be empty while `next` is `Some`),
    /// whose values are then read with one pipeline of `GET`s (on a
    /// cluster, one per bucket, concurrently). On a cluster each primary is
    /// scanned in turn, in ascending order of address.
    ///
    /// The cursor is `r:<SCAN cursor>` on a single server and
    /// `rc:<host>:<port>:<SCAN cursor>` on a cluster. As `SCAN` guarantees,
    /// every entry that exists for the whole scan is returned, some maybe
    /// twice, none expired (a key that expires or is deleted between the
    /// `SCAN` and its `GET` is left out). On a cluster this holds while the
    /// topology is stable: keys that move between primaries during a scan
    /// (resharding, failover) may be missed. Values this store did not
    /// write, and entry names it would not use (another bucket count), are
    /// named in [`ScanPage::unreadable`]; `expired` is always 0 (Redis
    /// hides expired keys).
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        in_ctx(check_limit(limit), op)?;
        within(
            self.config.operation_timeout,
            BACKEND,
            op,
            self.scan_page(cursor, limit),
        )
        .await
    }

    /// Native TTL on the server's clock, atomic conditional writes, an
    /// owner index of Redis sets, an unordered scan; `cluster` on a Redis
    /// Cluster.
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
}
