//! [`Store::scan`](store_core::Store::scan) on Redis: the cursor tokens,
//! the `SCAN` pattern, reading the replies of `SCAN` and `CLUSTER SLOTS`,
//! and the page itself (one `SCAN`, then the values it named).
//!
//! Cursor tokens:
//!
//! - `r:<cursor>` on a single server: the server's own `SCAN` cursor.
//! - `rc:<host>:<port>:<cursor>` on a Redis Cluster: the primary being
//!   scanned, by the address the cluster announces for it (a host may hold
//!   `:`, an IPv6 address), and that node's `SCAN` cursor. The primaries
//!   are scanned one after the other in ascending (host, port) order.
//! - `ri:<bucket>:<set>:<cursor>` with [`scan_index`](crate::RedisConfig::scan_index)
//!   on: the bucket, the index set (a window's end in Unix ms, or `p`) and
//!   that set's `SSCAN` cursor.
//!
//! The index: with `scan_index` on, each write adds its key to one set of
//! its bucket, chosen by the entry's expiry `t` and the writer's clock
//! `now`: the windows are 64 s × 2^l long (l = 0..32, aligned on the Unix
//! epoch), the write takes the shortest window length `S` with
//! `t - now <= S`, and the set is the one of the window of that length
//! holding `t`. It ends (and expires) at the window's end, `(t / S + 1) ×
//! S`, which is after `t` and at most `now + 2S`. So at any moment only a
//! few sets per length can exist: those ending after now and at most 2S
//! ahead (plus the clock difference allowed between processes), about a
//! hundred names per bucket in all, which a scan probes with one pipeline
//! of `EXISTS`. A scan reads the sets of each bucket in ascending order of
//! their end, `p` (no expiry) last. An entry that exists for the whole scan
//! is returned: its key stays in every set it was added to until that set
//! expires, and the set holding it after its last write or touch ends after
//! that set's now, so the scan either reads a set that holds it or finds a
//! later one that does.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use futures::future::try_join_all;
#[cfg(feature = "cluster")]
use redis::ErrorKind as RedisKind;
use redis::Value;
use store_core::scan::foreign_cursor;
use store_core::{
    Clock, Error, ErrorKind, Key, Operation, Result, ScanCursor, ScanPage, SystemClock, within,
};

use crate::BACKEND;
use crate::codec::decode_entry;
use crate::connect::{Conn, RedisStore};
use crate::error::classify;
use crate::query::{Bucket, INDEX_TIDY, entry_key, index_key};

/// The tag of single-server cursors.
const SINGLE_TAG: &str = "r:";
/// The tag of cluster cursors.
#[cfg(feature = "cluster")]
const CLUSTER_TAG: &str = "rc:";

/// The tag of cursors of a scan of the index.
const INDEX_TAG: &str = "ri:";

/// The shortest index window, in ms.
const WINDOW_MS: i64 = 64_000;

/// Index window lengths: 64 s × 2^l for l below this; the longest (about
/// 8,700 years) holds every expiry up to [`store_core::Expiry::MAX`].
const LEVELS: u32 = 33;

/// How far the clock of a process writing a namespace may be ahead of, or
/// behind, the clock of a process scanning it, in ms.
const CLOCK_SKEW_MS: i64 = 600_000;

/// The end (Unix ms) of the index window of an entry that expires at
/// `expiry`, written when the writer's clock reads `now`.
pub(crate) fn window_end(expiry: i64, now: i64) -> i64 {
    let ahead = expiry.saturating_sub(now).max(0);
    let size = (0..LEVELS)
        .map(|l| WINDOW_MS << l)
        .find(|s| ahead <= *s)
        .unwrap_or(WINDOW_MS << (LEVELS - 1));
    (expiry.div_euclid(size) + 1).saturating_mul(size)
}

/// The ends of every index window that can hold a live entry when the
/// scanning process's clock reads `now`, ascending: per window length `S`,
/// the multiples of `S` after `now - skew` and at most `now + skew + 2S`.
pub(crate) fn live_ends(now: i64) -> Vec<i64> {
    let low = now.saturating_sub(CLOCK_SKEW_MS);
    let high = now.saturating_add(CLOCK_SKEW_MS);
    let mut ends = std::collections::BTreeSet::new();
    for l in 0..LEVELS {
        let size = WINDOW_MS << l;
        for k in (low.div_euclid(size) + 1)..=(high.div_euclid(size) + 2) {
            ends.insert(k.saturating_mul(size));
        }
    }
    ends.into_iter().collect()
}

/// One index set of a bucket, in the order a scan reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IndexSet {
    /// The set of the window that ends at this Unix ms.
    Ends(i64),
    /// The set of the entries without an expiry.
    Persistent,
}

/// Where a scan of the index is: a bucket, a set, and that set's `SSCAN`
/// cursor. With cursor 0 the scan goes on at the first set, from `set` on,
/// that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexAt {
    pub(crate) bucket: u16,
    pub(crate) set: IndexSet,
    pub(crate) cursor: u64,
}

/// The token that resumes an index scan at `at`.
pub(crate) fn indexed(at: IndexAt) -> ScanCursor {
    let set = match at.set {
        IndexSet::Ends(end) => end.to_string(),
        IndexSet::Persistent => "p".to_owned(),
    };
    ScanCursor::new(format!("{INDEX_TAG}{}:{set}:{}", at.bucket, at.cursor))
}

/// The place in a token of [`indexed`]; `None` for any other text.
pub(crate) fn parse_indexed(token: &ScanCursor) -> Option<IndexAt> {
    let mut parts = token.as_str().strip_prefix(INDEX_TAG)?.split(':');
    let (Some(bucket), Some(set), Some(cursor), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bucket = u16::try_from(node_cursor(bucket.as_bytes())?).ok()?;
    let set = if set == "p" {
        IndexSet::Persistent
    } else {
        IndexSet::Ends(i64::try_from(node_cursor(set.as_bytes())?).ok()?)
    };
    Some(IndexAt {
        bucket,
        set,
        cursor: node_cursor(cursor.as_bytes())?,
    })
}

/// How many round trips one page of an index scan may take before it
/// returns what it has (maybe nothing) with a cursor to go on from.
const INDEX_ROUNDS: usize = 8;

/// A `SCAN` cursor as the server gives it: an unsigned 64-bit decimal.
fn node_cursor(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The token that resumes a single-server scan at the server's `cursor`.
pub(crate) fn single(cursor: u64) -> ScanCursor {
    ScanCursor::new(format!("{SINGLE_TAG}{cursor}"))
}

/// The server's cursor in a token of [`single`]; `None` for any other text.
pub(crate) fn parse_single(token: &ScanCursor) -> Option<u64> {
    node_cursor(token.as_str().strip_prefix(SINGLE_TAG)?.as_bytes())
}

/// A Redis Cluster node, by the address the cluster announces for it;
/// ordered by host, then port.
#[cfg(feature = "cluster")]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Node {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// The token that resumes a cluster scan on `node` at its `cursor`.
#[cfg(feature = "cluster")]
pub(crate) fn cluster(node: &Node, cursor: u64) -> ScanCursor {
    ScanCursor::new(format!("{CLUSTER_TAG}{}:{}:{cursor}", node.host, node.port))
}

/// The node and its cursor in a token of [`cluster`]; `None` for any other
/// text.
#[cfg(feature = "cluster")]
pub(crate) fn parse_cluster(token: &ScanCursor) -> Option<(Node, u64)> {
    let rest = token.as_str().strip_prefix(CLUSTER_TAG)?;
    let (address, cursor) = rest.rsplit_once(':')?;
    let (host, port) = address.rsplit_once(':')?;
    if host.is_empty() || host.chars().any(char::is_control) {
        return None;
    }
    let port = u16::try_from(node_cursor(port.as_bytes())?).ok()?;
    let node = Node {
        host: host.to_owned(),
        port,
    };
    Some((node, node_cursor(cursor.as_bytes())?))
}

/// The `SCAN` `MATCH` pattern of every entry name under `namespace`:
/// `<namespace>:{*}:e:*`, with the glob characters of the namespace
/// escaped. Other names of the namespace may match too (an owner named
/// `x}:e:y`); the caller checks each name.
fn entry_pattern(namespace: &str) -> String {
    let mut pattern = String::with_capacity(namespace.len() + 8);
    for c in namespace.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(":{*}:e:*");
    pattern
}

/// A `SCAN` reply: the next cursor and the names, or `None` when the reply
/// is not one.
pub(crate) fn scan_reply(reply: Value) -> Option<(u64, Vec<Vec<u8>>)> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let mut parts = parts.into_iter();
    let (Some(cursor), Some(Value::Array(names)), None) =
        (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let cursor = match cursor {
        Value::BulkString(raw) => node_cursor(&raw)?,
        Value::SimpleString(raw) => node_cursor(raw.as_bytes())?,
        _ => return None,
    };
    let names = names
        .into_iter()
        .map(|name| match name {
            Value::BulkString(raw) => Some(raw),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((cursor, names))
}

/// What `CLUSTER SLOTS` says about the primaries.
#[cfg(feature = "cluster")]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Primaries {
    /// Every primary that serves a slot, in ascending order, each once.
    Known(Vec<Node>),
    /// A primary is announced without a usable address (no endpoint, `?`,
    /// or a wildcard address), so it cannot be addressed by a scan.
    Unaddressable,
}

/// The primaries of a `CLUSTER SLOTS` reply, or `None` when the reply is
/// not one.
#[cfg(feature = "cluster")]
pub(crate) fn primaries(reply: Value) -> Option<Primaries> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut nodes = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(range) = range else {
            return None;
        };
        let Some(Value::Array(primary)) = range.into_iter().nth(2) else {
            return None;
        };
        let mut primary = primary.into_iter();
        let host = match primary.next() {
            Some(Value::BulkString(raw)) => String::from_utf8(raw).ok()?,
            Some(Value::SimpleString(s)) => s,
            Some(Value::Nil) => return Some(Primaries::Unaddressable),
            _ => return None,
        };
        let port = match primary.next() {
            Some(Value::Int(port)) => u16::try_from(port).ok()?,
            _ => return None,
        };
        if matches!(host.as_str(), "" | "?" | "0.0.0.0" | "::") || host.contains(char::is_control) {
            return Some(Primaries::Unaddressable);
        }
        nodes.push(Node { host, port });
    }
    nodes.sort();
    nodes.dedup();
    Some(Primaries::Known(nodes))
}

impl RedisStore {
    /// One page of [`Store::scan`](store_core::Store::scan): of the index
    /// with `scan_index` on, else of the database's keys.
    pub(crate) async fn scan_page(
        &self,
        cursor: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<ScanPage> {
        if self.config.scan_index {
            return self.scan_index_page(cursor, limit).await;
        }
        self.scan_keys_page(cursor, limit).await
    }

    /// One page of a scan of the database's keys: one `SCAN`, then the
    /// values of the entries it named.
    async fn scan_keys_page(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let (names, next) = match &self.conn {
            Conn::Single(_) => self.scan_single(cursor, limit).await?,
            // A cursor taken before a failover goes on on the promoted
            // replica: its keys are the same (bar what replication lost),
            // but SCAN's guarantee of reaching each key holds only on one
            // server, so a page may repeat or miss a key then.
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(_) => self.scan_single(cursor, limit).await?,
            #[cfg(feature = "cluster")]
            Conn::Cluster(conn) => self.scan_cluster(conn, cursor, limit).await?,
        };
        Ok(self.read_names(names).await?.0.with_next(next))
    }

    /// One page of a scan of the index (see the module docs): the sets of
    /// each bucket in order, each read with `SSCAN`, then the values of the
    /// entries they named. Members of `i:p` whose entry is gone are removed.
    async fn scan_index_page(&self, token: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let mut at = match token {
            None => IndexAt {
                bucket: 0,
                set: IndexSet::Ends(0),
                cursor: 0,
            },
            Some(t) => parse_indexed(t).ok_or_else(scan_cursor_error)?,
        };
        if usize::from(at.bucket) >= self.bases.len() {
            return Err(scan_cursor_error());
        }
        let mut names = Vec::new();
        // The `i:p` members read, by bucket: removed below if their entry
        // is gone.
        let mut persistent: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
        let mut rounds = 0;
        let next = loop {
            if usize::from(at.bucket) >= self.bases.len() {
                break None;
            }
            if rounds >= INDEX_ROUNDS || names.len() >= limit {
                break Some(indexed(at));
            }
            let base = &self.bases[usize::from(at.bucket)];
            if at.cursor == 0 {
                rounds += 1;
                match self.first_index_set(base, at.set).await? {
                    Some(set) => at.set = set,
                    None => {
                        at = IndexAt {
                            bucket: at.bucket + 1,
                            set: IndexSet::Ends(0),
                            cursor: 0,
                        };
                        continue;
                    }
                }
            }
            let set = match at.set {
                IndexSet::Ends(end) => index_key(base, Some(end)),
                IndexSet::Persistent => index_key(base, None),
            };
            rounds += 1;
            let mut conn = self.conn.clone();
            let reply: Value = redis::cmd("SSCAN")
                .arg(&set)
                .arg(at.cursor)
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut conn)
                .await
                .map_err(|e| classify(e, op))?;
            let (cursor, members) = scan_reply(reply).ok_or_else(bad_scan_reply)?;
            for member in members {
                let mut name = base.entries.as_bytes().to_vec();
                name.extend_from_slice(&member);
                if at.set == IndexSet::Persistent {
                    persistent.entry(at.bucket).or_default().push(member);
                }
                names.push(name);
            }
            at = match (cursor, at.set) {
                (0, IndexSet::Ends(end)) => IndexAt {
                    set: IndexSet::Ends(end.saturating_add(1)),
                    cursor: 0,
                    ..at
                },
                (0, IndexSet::Persistent) => IndexAt {
                    bucket: at.bucket + 1,
                    set: IndexSet::Ends(0),
                    cursor: 0,
                },
                (cursor, _) => IndexAt { cursor, ..at },
            };
        };
        let (page, missing) = self.read_names(names).await?;
        for (bucket, members) in persistent {
            let base = &self.bases[usize::from(bucket)];
            let gone: Vec<&[u8]> = members
                .iter()
                .filter(|m| {
                    let mut name = base.entries.as_bytes().to_vec();
                    name.extend_from_slice(m);
                    missing.contains(&name)
                })
                .map(Vec::as_slice)
                .collect();
            if !gone.is_empty() {
                let mut args = vec![base.entries.as_bytes()];
                args.extend(gone);
                self.eval(&INDEX_TIDY, &[&index_key(base, None)], &args, op)
                    .await?;
            }
        }
        Ok(page.with_next(next))
    }

    /// The first index set of `base`, from `from` on, that exists now.
    async fn first_index_set(&self, base: &Bucket, from: IndexSet) -> Result<Option<IndexSet>> {
        let mut candidates: Vec<IndexSet> = match from {
            IndexSet::Ends(from) => live_ends(SystemClock.now().as_unix_millis())
                .into_iter()
                .filter(|end| *end >= from)
                .map(IndexSet::Ends)
                .collect(),
            IndexSet::Persistent => Vec::new(),
        };
        candidates.push(IndexSet::Persistent);
        let mut pipe = redis::pipe();
        for set in &candidates {
            let end = match set {
                IndexSet::Ends(end) => Some(*end),
                IndexSet::Persistent => None,
            };
            pipe.cmd("EXISTS").arg(index_key(base, end));
        }
        let mut conn = self.conn.clone();
        let found: Vec<i64> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| classify(e, Operation::Scan))?;
        if found.len() != candidates.len() {
            return Err(bad_scan_reply());
        }
        Ok(candidates
            .into_iter()
            .zip(found)
            .find(|(_, n)| *n > 0)
            .map(|(set, _)| set))
    }

    /// Adds every entry of the namespace to the index a store with
    /// [`scan_index`](crate::RedisConfig::scan_index) on reads, walking the
    /// database once with `SCAN`; returns how many entries it indexed.
    /// Needed once, for entries written before `scan_index` was turned on
    /// (turn it on in every writing process first, then run this). Works
    /// with `scan_index` on or off; adding a key twice changes nothing.
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached (run it again: what
    /// it indexed stays indexed), `Backend` for an unexpected reply.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use store_redis::{RedisConfig, RedisStore};
    ///
    /// let config = RedisConfig::default().namespace("sessions").scan_index(true);
    /// let store = RedisStore::connect_with("redis://127.0.0.1:6379/", config).await?;
    /// let indexed = store.build_scan_index().await?;
    /// println!("{indexed} entries indexed");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn build_scan_index(&self) -> Result<u64> {
        let op = Operation::Scan;
        let mut indexed = 0;
        let mut cursor = None;
        loop {
            let page = within(
                self.config.operation_timeout,
                BACKEND,
                op,
                self.scan_keys_page(cursor.as_ref(), 1000),
            )
            .await?;
            let now = SystemClock.now().as_unix_millis();
            let mut groups: BTreeMap<usize, redis::Pipeline> = BTreeMap::new();
            for (key, entry) in &page.entries {
                let bucket = self.bucket_of(key);
                let group = if self.caps.cluster { bucket } else { 0 };
                let pipe = groups.entry(group).or_insert_with(redis::pipe);
                let end = entry
                    .expires_at
                    .map(|e| window_end(e.as_unix_millis(), now));
                let set = index_key(&self.bases[bucket], end);
                pipe.cmd("SADD").arg(&set).arg(key.as_str()).ignore();
                if let Some(end) = end {
                    pipe.cmd("PEXPIREAT").arg(&set).arg(end).arg("NX").ignore();
                }
            }
            let writes = groups.into_values().map(|pipe| async move {
                let mut conn = self.conn.clone();
                within(self.config.operation_timeout, BACKEND, op, async {
                    pipe.query_async::<()>(&mut conn)
                        .await
                        .map_err(|e| classify(e, op))
                })
                .await
            });
            try_join_all(writes).await?;
            indexed += page.entries.len() as u64;
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(indexed),
            }
        }
    }

    /// One `SCAN` on a single server: the names it found and the token of
    /// the next page.
    async fn scan_single(
        &self,
        token: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<(Vec<Vec<u8>>, Option<ScanCursor>)> {
        let start = match token {
            None => 0,
            Some(t) => parse_single(t).ok_or_else(scan_cursor_error)?,
        };
        let mut conn = self.conn.clone();
        let reply: Value = self
            .scan_cmd(start, limit)
            .query_async(&mut conn)
            .await
            .map_err(|e| classify(e, Operation::Scan))?;
        let (next, names) = scan_reply(reply).ok_or_else(bad_scan_reply)?;
        Ok((names, (next != 0).then(|| single(next))))
    }

    /// One `SCAN` on one primary of a cluster (the first one, by address,
    /// without a token): the names it found and the token of the next page,
    /// which moves on to the next primary once this one is done.
    #[cfg(feature = "cluster")]
    async fn scan_cluster(
        &self,
        conn: &redis::cluster_async::ClusterConnection,
        token: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<(Vec<Vec<u8>>, Option<ScanCursor>)> {
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

        let (node, start) = match token {
            Some(t) => parse_cluster(t).ok_or_else(scan_cursor_error)?,
            None => match cluster_primaries(conn).await?.into_iter().next() {
                Some(first) => (first, 0),
                None => return Err(no_primaries()),
            },
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: node.host.clone(),
            port: node.port,
        });
        let reply = conn
            .clone()
            .route_command(self.scan_cmd(start, limit), routing)
            .await
            .map_err(|e| match e.kind() {
                // The driver has no connection to that address: the node
                // left the cluster, or this process does not know it yet.
                RedisKind::Client | RedisKind::ClusterConnectionNotFound => Error::new(
                    ErrorKind::Unavailable,
                    "the Redis Cluster node named by the scan cursor is not connected (it may \
                     have left the cluster): retry, or restart the scan",
                )
                .in_context(BACKEND, Operation::Scan)
                .with_source(e),
                _ => classify(e, Operation::Scan),
            })?;
        let (next, names) = scan_reply(reply).ok_or_else(bad_scan_reply)?;
        let next = if next != 0 {
            Some(cluster(&node, next))
        } else {
            // The primary after this one; a node that joined in between
            // and sorts before it is not scanned.
            cluster_primaries(conn)
                .await?
                .into_iter()
                .find(|n| *n > node)
                .map(|n| cluster(&n, 0))
        };
        Ok((names, next))
    }

    fn scan_cmd(&self, start: u64, limit: usize) -> redis::Cmd {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(start)
            .arg("MATCH")
            .arg(entry_pattern(self.namespace()))
            .arg("COUNT")
            .arg(limit);
        cmd
    }

    /// What a name found by `SCAN` is to this store.
    fn name_of(&self, name: &[u8]) -> Name {
        let Some(rest) = name
            .strip_prefix(self.namespace().as_bytes())
            .and_then(|r| r.strip_prefix(b":{"))
        else {
            return Name::Other;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || !rest[digits..].starts_with(b"}:e:") {
            // Another name of the namespace whose end matched the pattern
            // (an owner set of an owner like `x}:e:y`).
            return Name::Other;
        }
        let key = std::str::from_utf8(&rest[digits + 4..])
            .ok()
            .and_then(|k| Key::new(k).ok());
        match key {
            // Where this store would put that key: an entry.
            Some(key) if entry_key(self.base_of(&key), &key) == name => {
                let bucket = self.bucket_of(&key);
                Name::Entry(key, bucket)
            }
            // Shaped like an entry of this namespace but not where this
            // store puts one (another bucket count, an invalid key).
            _ => Name::Misplaced,
        }
    }

    /// Reads the entries named by one `SCAN`: one pipeline of `GET`s on a
    /// single server; on a cluster one pipeline per bucket (a bucket is
    /// one hash slot), concurrently. Also gives the names whose entry was
    /// gone.
    async fn read_names(&self, names: Vec<Vec<u8>>) -> Result<(ScanPage, HashSet<Vec<u8>>)> {
        let op = Operation::Scan;
        let mut unreadable = Vec::new();
        let mut groups: BTreeMap<usize, Vec<(Key, Vec<u8>)>> = BTreeMap::new();
        let mut seen = HashSet::with_capacity(names.len());
        for name in names {
            if !seen.insert(name.clone()) {
                continue;
            }
            match self.name_of(&name) {
                Name::Entry(key, bucket) => {
                    let group = if self.caps.cluster { bucket } else { 0 };
                    groups.entry(group).or_default().push((key, name));
                }
                Name::Misplaced => unreadable.push(String::from_utf8_lossy(&name).into_owned()),
                Name::Other => {}
            }
        }
        let reads = groups.into_values().map(|group| async move {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for (_, name) in &group {
                pipe.cmd("GET").arg(name);
            }
            let mut conn = self.conn.clone();
            let values: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| classify(e, op))?;
            if values.len() != group.len() {
                return Err(bad_scan_reply());
            }
            Ok::<_, Error>(group.into_iter().zip(values))
        });
        let mut entries = Vec::new();
        let mut missing = HashSet::new();
        for ((key, name), value) in try_join_all(reads).await?.into_iter().flatten() {
            match value {
                // Deleted or expired since the SCAN.
                Value::Nil => {
                    missing.insert(name);
                }
                Value::BulkString(blob) => match decode_entry(Bytes::from(blob), op) {
                    Ok(entry) => entries.push((key, entry)),
                    Err(_) => unreadable.push(String::from_utf8_lossy(&name).into_owned()),
                },
                Value::ServerError(e) if e.code() == "WRONGTYPE" => {
                    unreadable.push(String::from_utf8_lossy(&name).into_owned());
                }
                Value::ServerError(e) => return Err(classify(e.into(), op)),
                _ => return Err(bad_scan_reply()),
            }
        }
        Ok((ScanPage::new(entries).with_unreadable(unreadable), missing))
    }
}

/// A name `SCAN` found under the namespace, as [`RedisStore::name_of`] sees it.
enum Name {
    /// The entry of a key, in that bucket.
    Entry(Key, usize),
    /// Shaped like an entry name of this namespace, but not one this store
    /// can read.
    Misplaced,
    /// Not an entry name (matched the pattern by accident).
    Other,
}

/// The primaries of the cluster, in ascending order of address.
#[cfg(feature = "cluster")]
async fn cluster_primaries(conn: &redis::cluster_async::ClusterConnection) -> Result<Vec<Node>> {
    use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    let reply = conn
        .clone()
        .route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
        .await
        .map_err(|e| classify(e, Operation::Scan))?;
    match primaries(reply) {
        Some(Primaries::Known(nodes)) if !nodes.is_empty() => Ok(nodes),
        Some(Primaries::Known(_)) => Err(no_primaries()),
        Some(Primaries::Unaddressable) => Err(Error::new(
            ErrorKind::Backend,
            "the Redis Cluster announces a primary without an address (CLUSTER SLOTS gives \
             no endpoint, `?` or a wildcard address), so a scan cannot reach it",
        )
        .in_context(BACKEND, Operation::Scan)),
        None => Err(bad_scan_reply()),
    }
}

#[cfg(feature = "cluster")]
fn no_primaries() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the Redis Cluster reports no primary serving slots",
    )
    .in_context(BACKEND, Operation::Scan)
}

fn scan_cursor_error() -> Error {
    foreign_cursor().in_context(BACKEND, Operation::Scan)
}

fn bad_scan_reply() -> Error {
    Error::new(
        ErrorKind::Backend,
        "unexpected reply to SCAN, GET or CLUSTER SLOTS",
    )
    .in_context(BACKEND, Operation::Scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_cursors_roundtrip_and_reject_others() {
        assert_eq!(parse_single(&single(0)), Some(0));
        assert_eq!(parse_single(&single(u64::MAX)), Some(u64::MAX));
        for token in [
            "", "r:", "r:-1", "r:+1", "r:1 ", "r:x", "k:", "k:abc", "\u{0}", "rc:h:1:2",
        ] {
            assert_eq!(parse_single(&ScanCursor::new(token)), None, "{token:?}");
        }
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn cluster_cursors_roundtrip_and_reject_others() {
        for host in ["127.0.0.1", "::1", "redis-0.example"] {
            let node = Node {
                host: host.to_owned(),
                port: 7001,
            };
            let token = cluster(&node, 42);
            assert_eq!(parse_cluster(&token), Some((node, 42)), "{token:?}");
        }
        for token in [
            "",
            "rc:",
            "rc:h:1",
            "rc::1:2",
            "rc:h:70000:2",
            "rc:h:1:",
            "rc:h:x:1",
            "r:5",
            "k:abc",
            "\u{0}",
        ] {
            assert_eq!(parse_cluster(&ScanCursor::new(token)), None, "{token:?}");
        }
    }

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(entry_pattern("app"), "app:{*}:e:*");
        assert_eq!(entry_pattern(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d:{*}:e:*");
    }

    #[test]
    fn scan_replies_are_checked() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![Value::BulkString(b"a".to_vec())]),
        ]);
        assert_eq!(scan_reply(reply), Some((17, vec![b"a".to_vec()])));
        assert_eq!(scan_reply(Value::Nil), None);
        let bad = Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Array(vec![])]);
        assert_eq!(scan_reply(bad), None);
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn primaries_are_sorted_and_unique() {
        let range = |host: Value, port: i64| {
            Value::Array(vec![
                Value::Int(0),
                Value::Int(1),
                Value::Array(vec![
                    host,
                    Value::Int(port),
                    Value::BulkString(b"id".to_vec()),
                ]),
                Value::Array(vec![Value::BulkString(b"10.0.0.9".to_vec()), Value::Int(1)]),
            ])
        };
        let host = |h: &str| Value::BulkString(h.as_bytes().to_vec());
        let reply = Value::Array(vec![
            range(host("b"), 2),
            range(host("a"), 9),
            range(host("b"), 2),
            range(host("a"), 10),
        ]);
        let node = |h: &str, port| Node {
            host: h.to_owned(),
            port,
        };
        assert_eq!(
            primaries(reply),
            Some(Primaries::Known(vec![
                node("a", 9),
                node("a", 10),
                node("b", 2)
            ]))
        );
        for unknown in [host(""), host("?"), Value::Nil] {
            let reply = Value::Array(vec![range(unknown, 1)]);
            assert_eq!(primaries(reply), Some(Primaries::Unaddressable));
        }
        assert_eq!(primaries(Value::Int(1)), None);
    }
}

#[cfg(test)]
mod fuzz {
    //! Property-based tests of the scan cursor tokens: any text is parsed
    //! or refused without a panic, and tokens made by the store parse back.

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Single-server scan cursors: `r:` and a `u64` in decimal digits,
        /// nothing else; tokens made by the store parse back.
        #[test]
        fn single_server_cursor_tokens(token in prop_oneof![
            "\\PC{0,24}",
            "r:[0-9]{0,22}",
            "r:[0-9+ -]{0,6}",
            any::<u64>().prop_map(|n| format!("r:{n}")),
        ], n in any::<u64>()) {
            let parsed = parse_single(&ScanCursor::new(token.clone()));
            let expected = token
                .strip_prefix("r:")
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u128>().ok())
                .and_then(|d| u64::try_from(d).ok());
            prop_assert_eq!(parsed, expected);
            prop_assert_eq!(parse_single(&single(n)), Some(n));
        }
    }

    /// A scan probes about a hundred index sets per bucket, whatever the
    /// time.
    #[test]
    fn index_probes_are_few() {
        for now in [0, 1_700_000_000_000, 4_000_000_000_000] {
            let ends = live_ends(now);
            assert!((40..=160).contains(&ends.len()), "{} sets", ends.len());
            assert!(ends.windows(2).all(|w| w[0] < w[1]));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// An entry's index window ends after its expiry, and every scan
        /// that can still meet the set (a scanning clock from the skew
        /// behind the writer's up to the skew past the set's end) probes
        /// it.
        #[test]
        fn index_windows_are_probed_while_they_live(
            now in 0i64..4_000_000_000_000,
            ahead in prop_oneof![1i64..200_000, 1i64..100_000_000, 1i64..200_000_000_000_000],
            later in 0.0f64..1.0,
        ) {
            let max = store_core::Expiry::MAX.as_unix_millis();
            let expiry = now.saturating_add(ahead).min(max);
            prop_assume!(expiry > now);
            let end = window_end(expiry, now);
            prop_assert!(end > expiry, "{end} <= {expiry}");
            let low = now - CLOCK_SKEW_MS;
            let high = end + CLOCK_SKEW_MS - 1;
            let scan = low + ((high - low) as f64 * later) as i64;
            for at in [low, now, scan, high] {
                prop_assert!(live_ends(at).contains(&end), "{end} not probed at {at} (written {now})");
            }
        }

        /// Index cursor tokens: any text is parsed or refused without a
        /// panic; tokens made by the store parse back.
        #[test]
        fn index_cursor_tokens(
            token in prop_oneof!["\\PC{0,24}", "ri:[0-9]{0,6}:[0-9p]{0,16}:[0-9]{0,21}"],
            bucket in any::<u16>(),
            end in prop_oneof![Just(None), (0i64..i64::MAX).prop_map(Some)],
            cursor in any::<u64>(),
        ) {
            if let Some(at) = parse_indexed(&ScanCursor::new(token.clone())) {
                prop_assert!(token.starts_with("ri:"));
                prop_assert_eq!(parse_indexed(&indexed(at)), Some(at));
            }
            let set = end.map_or(IndexSet::Persistent, IndexSet::Ends);
            let at = IndexAt { bucket, set, cursor };
            prop_assert_eq!(parse_indexed(&indexed(at)), Some(at));
        }
    }

    #[cfg(feature = "cluster")]
    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// Cluster cursor tokens: any text is parsed or refused without a
        /// panic; tokens made by the store (hosts with `:`, IPv6, multi-byte
        /// characters) parse back exactly.
        #[test]
        fn cluster_cursor_tokens(
            token in prop_oneof!["\\PC{0,30}", "rc:[^\\x00]{0,10}:[0-9]{0,6}:[0-9]{0,21}"],
            host in "[^\\p{Cc}]{1,20}",
            port in any::<u16>(),
            n in any::<u64>(),
        ) {
            if let Some((node, c)) = parse_cluster(&ScanCursor::new(token.clone())) {
                prop_assert!(token.starts_with("rc:") && !node.host.is_empty());
                let remade = cluster(&node, c);
                prop_assert_eq!(parse_cluster(&remade), Some((node, c)));
            }
            let node = Node { host, port };
            prop_assert_eq!(parse_cluster(&cluster(&node, n)), Some((node, n)));
        }
    }
}
