//! The [`Store`] implementation of [`RedisStore`]: each call checks its
//! input, then does its work on the server within the store's
//! [`operation_timeout`](crate::RedisConfig::operation_timeout).

use bytes::Bytes;
use redis::{RedisWrite as _, Value};
use store_core::scan::check_limit;
use store_core::{
    Capabilities, Clock, Entry, Error, Expiry, Key, Operation, Owner, PutMode, PutOptions,
    PutResult, Result, ScanCursor, ScanPage, Store, SystemClock, Version, async_trait, validate,
    within,
};

use crate::BACKEND;
use crate::codec::{
    decode_entry, decode_owned, encode_entry, entry_len, expiry_field, version_field, write_entry,
};
use crate::connect::RedisStore;
use crate::error::{bad_reply, classify, in_ctx};
use crate::query::{
    DELETE_IF, DELETE_OWNER, LIST_OWNER, PUT_IF, Reply, TOUCH, entry_key, entry_key_arg,
    fresh_version, index_key, set_key,
};
use crate::scan::window_end;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for RedisStore {
    /// One `GET`; Redis itself hides an expired key.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        in_ctx(validate::key(&self.caps, key), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            // Room for `GET` and the name, so the buffer is sized once.
            let mut read =
                redis::Cmd::with_capacity(2, base.entries.len() + key.as_str().len() + 16);
            read.arg("GET");
            entry_key_arg(&mut read, base, key);
            let mut conn = self.conn.clone();
            let reply: Value = read
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

    /// `Upsert`, `Create` and `Update` are one `SET` (plain, `NX`, `XX`)
    /// of the whole entry with a fresh version and its native expiry; with
    /// an owner, one `MULTI`/`EXEC` that also adds the key to the owner's
    /// set and keeps the set's expiry no earlier than the entry's.
    /// `UpdateIf` is one script that compares the version on the server
    /// first. An expiry not after this process's clock is `InvalidInput`
    /// and writes nothing. With [`scan_index`](crate::RedisConfig::scan_index)
    /// on, the key is also added to its index set in the same transaction
    /// or script.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        in_ctx(validate::key(&self.caps, key), op)?;
        in_ctx(validate::value(&self.caps, &value), op)?;
        let now = SystemClock.now();
        if let Some(expiry) = options.expires_at {
            in_ctx(validate::expiry(expiry, now), op)?;
        }
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            // The index set of this write and its expiry, with `scan_index`.
            let index = self.config.scan_index.then(|| {
                let end = options
                    .expires_at
                    .map(|e| window_end(e.as_unix_millis(), now.as_unix_millis()));
                (index_key(base, end), end)
            });
            let version = fresh_version();
            let owner = options.owner.as_ref();
            // Redis keeps a key until now > its expiry; the contract wants
            // it gone at the expiry.
            let pxat = options.expires_at.map(|e| e.as_unix_millis() - 1);
            // The owner's set for this entry: `x:` with an expiry, `p:`
            // without.
            let set = owner.map(|o| match options.expires_at {
                Some(_) => set_key(&base.expiring, o),
                None => set_key(&base.persistent, o),
            });
            let members = match options.mode {
                PutMode::UpdateIf(expected) => {
                    let redis_key = entry_key(base, key);
                    let blob = encode_entry(version, options.expires_at, owner, &value);
                    let expected = version_field(expected);
                    let pxat = pxat.map(|t| t.to_string()).unwrap_or_default();
                    let set_expiry = options
                        .expires_at
                        .map(|e| e.as_unix_millis().to_string())
                        .unwrap_or_default();
                    let mut keys: Vec<&[u8]> = vec![&redis_key];
                    keys.extend(set.as_deref());
                    let index_expiry = match &index {
                        Some((name, end)) => {
                            keys.push(name);
                            end.map_or_else(|| "-".to_owned(), |e| e.to_string())
                        }
                        None => String::new(),
                    };
                    let has_set: &[u8] = if set.is_some() { b"1" } else { b"" };
                    let reply = self
                        .eval(
                            &PUT_IF,
                            &keys,
                            &[
                                expected.as_bytes(),
                                &blob,
                                pxat.as_bytes(),
                                key.as_str().as_bytes(),
                                set_expiry.as_bytes(),
                                has_set,
                                index_expiry.as_bytes(),
                            ],
                            op,
                        )
                        .await?;
                    let mut reply = Reply::new(reply, op)?;
                    match reply.status.as_slice() {
                        b"ok" if set.is_some() => reply.int()?,
                        b"ok" => 0,
                        b"missing" => return Err(Error::not_found().in_context(BACKEND, op)),
                        b"mismatch" => {
                            return Err(Error::version_mismatch().in_context(BACKEND, op));
                        }
                        other => return Err(reply.unexpected(other)),
                    }
                }
                mode => {
                    // The name and the entry are written straight into the
                    // command's buffer, a `Vec`: writing cannot fail. It is
                    // sized once for up to 6 arguments: `SET`, name, entry,
                    // `NX`/`XX`, `PXAT` and its digits (the 48 spare bytes).
                    let mut write = redis::Cmd::with_capacity(
                        6,
                        base.entries.len() + key.as_str().len() + entry_len(owner, &value) + 48,
                    );
                    write.arg("SET");
                    entry_key_arg(&mut write, base, key);
                    let _ = write_entry(
                        &mut write.writer_for_next_arg(),
                        version,
                        options.expires_at,
                        owner,
                        &value,
                    );
                    match mode {
                        PutMode::Create => {
                            write.arg("NX");
                        }
                        PutMode::Update => {
                            write.arg("XX");
                        }
                        _ => {}
                    }
                    if let Some(pxat) = pxat {
                        write.arg("PXAT").arg(pxat);
                    }
                    let mut cmds = vec![write];
                    if let Some((name, end)) = &index {
                        cmds.push(redis::cmd("SADD").arg(name).arg(key.as_str()).take());
                        if let Some(end) = end {
                            cmds.push(redis::cmd("PEXPIREAT").arg(name).arg(*end).arg("NX").take());
                        }
                    }
                    if let Some(set) = &set {
                        cmds.push(redis::cmd("SADD").arg(set).arg(key.as_str()).take());
                        if let Some(e) = options.expires_at {
                            let at = e.as_unix_millis();
                            cmds.push(redis::cmd("PEXPIREAT").arg(set).arg(at).arg("NX").take());
                            cmds.push(redis::cmd("PEXPIREAT").arg(set).arg(at).arg("GT").take());
                        }
                        cmds.push(redis::cmd("SCARD").arg(set).take());
                    }
                    let mut replies = self.write(cmds, op).await?.into_iter();
                    match replies.next() {
                        Some(Value::Okay) => {}
                        Some(Value::Nil) if mode == PutMode::Create => {
                            return Err(Error::already_exists().in_context(BACKEND, op));
                        }
                        Some(Value::Nil) => return Err(Error::not_found().in_context(BACKEND, op)),
                        _ => return Err(bad_reply(op)),
                    }
                    match replies.last() {
                        Some(Value::Int(n)) if set.is_some() => n,
                        _ if set.is_some() => return Err(bad_reply(op)),
                        _ => 0,
                    }
                }
            };
            if let (Some(set), Some(owner)) = (&set, owner) {
                self.tidy_if_due(base, set, owner, members, op).await?;
            }
            Ok(PutResult::new(version))
        })
        .await
    }

    /// One script: rewrites the 15 expiry bytes of the header in place and
    /// moves the native expiry (of the entry, and of its owner's sets where
    /// they would expire first); value and version untouched. An expiry not
    /// after this process's clock is `InvalidInput` and changes nothing.
    /// With `scan_index` on, the script also adds the key to the index set
    /// of its new expiry.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        in_ctx(validate::key(&self.caps, key), op)?;
        let now = SystemClock.now();
        in_ctx(validate::expiry(expires_at, now), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            let redis_key = entry_key(base, key);
            let at = expires_at.as_unix_millis();
            let pxat = (at - 1).to_string();
            let at_now: &[u8] = if at - 1 <= now.as_unix_millis() {
                b"1"
            } else {
                b"0"
            };
            let end = window_end(at, now.as_unix_millis());
            let index = self.config.scan_index.then(|| index_key(base, Some(end)));
            let mut keys: Vec<&[u8]> = vec![&redis_key];
            keys.extend(index.as_deref());
            let reply = self
                .eval(
                    &TOUCH,
                    &keys,
                    &[
                        pxat.as_bytes(),
                        expiry_field(Some(expires_at)).as_bytes(),
                        at_now,
                        at.to_string().as_bytes(),
                        base.expiring.as_bytes(),
                        base.legacy.as_bytes(),
                        key.as_str().as_bytes(),
                        end.to_string().as_bytes(),
                    ],
                    op,
                )
                .await?;
            let reply = Reply::new(reply, op)?;
            match reply.status.as_slice() {
                b"ok" => Ok(()),
                b"missing" => Err(Error::not_found().in_context(BACKEND, op)),
                other => Err(reply.unexpected(other)),
            }
        })
        .await
    }

    /// One `DEL`; with a version, one script that compares it first and
    /// also drops the key from its owner's sets (without one, the sets
    /// keep a stale member until an owner call or a cleaning meets it).
    async fn delete(&self, key: &Key, version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        in_ctx(validate::key(&self.caps, key), op)?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let base = self.base_of(key);
            let redis_key = entry_key(base, key);
            // Only the index set of entries without an expiry is cleaned
            // here: the others expire by themselves.
            let persistent = self.config.scan_index.then(|| index_key(base, None));
            let Some(version) = version else {
                let mut cmds = vec![redis::cmd("DEL").arg(&redis_key).to_owned()];
                if let Some(persistent) = &persistent {
                    cmds.push(redis::cmd("SREM").arg(persistent).arg(key.as_str()).take());
                }
                return match self.write(cmds, op).await?.first() {
                    Some(Value::Int(n)) => Ok(*n > 0),
                    _ => Err(bad_reply(op)),
                };
            };
            let expected = version_field(version);
            let mut keys: Vec<&[u8]> = vec![&redis_key];
            keys.extend(persistent.as_deref());
            let reply = self
                .eval(
                    &DELETE_IF,
                    &keys,
                    &[
                        expected.as_bytes(),
                        key.as_str().as_bytes(),
                        base.expiring.as_bytes(),
                        base.persistent.as_bytes(),
                        base.legacy.as_bytes(),
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
