//! [`RedisStore`]: the [`Store`] implementation.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::try_join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind as RedisKind, ServerErrorKind, Value};
use store_core::scan::{check_limit, foreign_cursor};
use store_core::{
    Capabilities, ClockSource, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode,
    PutOptions, PutResult, Result, ScanCursor, ScanPage, Store, Version, async_trait, redact_url,
    validate, without_url_secrets,
};

use crate::config::{
    DEFAULT_BUCKETS_CLUSTER, DEFAULT_BUCKETS_SINGLE, RedisConfig, config_error, validate_prefix,
};
use crate::conn::Conn;
use crate::cursor;
use crate::error::{classify, foreign};
use crate::scripts::{DELETE, DELETE_OWNER, LIST_OWNER, Lua, PUT, TOUCH};

/// The backend name in errors and [`Capabilities`].
pub const BACKEND: &str = "redis";

const FOREIGN_TYPE: &str = "a key under this store's prefix holds a value of another Redis \
                            type (not written by this store)";
const FOREIGN_STRING: &str = "a value under this store's prefix lacks this store's header \
                              (not written by this store)";

/// A [`Store`] on Redis: a single server (through a [`ConnectionManager`]
/// that reconnects by itself) or, with the `cluster` feature, a Redis
/// Cluster.
///
/// Cheap to clone: clones share the connection. Every write is one Lua
/// script run atomically by the server; reads are one `GET`. The
/// server's clock decides expiry, which Redis enforces natively, so
/// [`Store::delete_expired`] has nothing to do.
///
/// ```no_run
/// use store_core::{Key, PutOptions, Store};
/// use store_redis::RedisStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/").await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutOptions::default()).await?;
/// assert!(store.get(&key).await?.is_some());
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: Arc<str>,
    /// The key names of every bucket.
    bases: Arc<[Bucket]>,
    caps: Capabilities,
    /// Where the store connects, with any password redacted.
    endpoint: Arc<str>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("buckets", &self.bases.len())
            .field("cluster", &self.caps.cluster)
            .finish()
    }
}

impl RedisStore {
    /// Connects to one Redis server (`redis://`, `rediss://` with the `tls`
    /// feature, or `redis+unix://`) with the default [`RedisConfig`].
    ///
    /// # Errors
    /// `Config` for a malformed URL or rejected credentials, `Unavailable`
    /// when the server cannot be reached. No error contains the password.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/0").await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, RedisConfig::default()).await
    }

    /// Connects to one Redis server with `config`.
    ///
    /// # Errors
    /// As [`RedisStore::connect`], plus `Config` for an invalid `config`.
    ///
    /// ```no_run
    /// use store_redis::{RedisConfig, RedisStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = RedisConfig::default().prefix("myapp");
    /// let store = RedisStore::connect_with("redis://127.0.0.1:6379/", config).await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let client = open_client(url, &config)?;
        // One plain attempt first, so that an unreachable server or bad
        // credentials fail at once with their own error instead of after
        // the reconnect schedule.
        let probe_config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(Some(config.response_timeout));
        let connect_error = |e| without_url_secrets(classify(e, Operation::Connect), url);
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&probe_config)
            .await
            .map_err(connect_error)?;
        // A server that wants a password the URL lacks says so here.
        let _: () = redis::cmd("PING")
            .query_async(&mut probe)
            .await
            .map_err(connect_error)?;
        drop(probe);
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(config.reconnect_retries);
        let manager = ConnectionManager::new_with_config(client, manager_config)
            .await
            .map_err(|e| without_url_secrets(classify(e, Operation::Connect), url))?;
        // Bounded, so that no call waits for the whole reconnect schedule
        // while the server is down.
        Ok(Self::build(
            Conn::single(manager, Some(config.call_bound())),
            &config,
            redact_url(url),
            false,
        ))
    }

    /// A store on an existing connection, with the default [`RedisConfig`].
    ///
    /// The connection's own timeouts and reconnect schedule bound its
    /// calls: while the server is down, a call waits for the manager's
    /// whole reconnect schedule. A store from [`RedisStore::connect`]
    /// bounds each call instead (see [`RedisConfig::connection_timeout`]).
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    /// let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    /// let store = store_redis::RedisStore::new(conn);
    /// # });
    /// ```
    pub fn new(conn: ConnectionManager) -> Self {
        Self::build(
            Conn::single(conn, None),
            &RedisConfig::default(),
            "(given connection)".into(),
            false,
        )
    }

    /// A store on an existing connection with `config` (its timeouts are
    /// the connection's own and are not changed, and bound its calls as in
    /// [`RedisStore::new`]).
    ///
    /// # Errors
    /// `Config` for an invalid `config`.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    /// let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    /// let config = store_redis::RedisConfig::default().prefix("app");
    /// let store = store_redis::RedisStore::with_config(conn, config)?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_config(conn: ConnectionManager, config: RedisConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::build(
            Conn::single(conn, None),
            &config,
            "(given connection)".into(),
            false,
        ))
    }

    /// Connects to a Redis Cluster through any of its nodes, with the
    /// default [`RedisConfig`].
    ///
    /// # Errors
    /// `Config` for a malformed URL, `Unavailable` when no node answers.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let nodes = ["redis://127.0.0.1:7001/", "redis://127.0.0.1:7002/"];
    /// let store = store_redis::RedisStore::connect_cluster(nodes).await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "cluster")]
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::connect_cluster_with(nodes, RedisConfig::default()).await
    }

    /// Connects to a Redis Cluster with `config`.
    ///
    /// # Errors
    /// As [`RedisStore::connect_cluster`], plus `Config` for an invalid
    /// `config` or an empty node list.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = store_redis::RedisConfig::default().buckets(64);
    /// let store =
    ///     store_redis::RedisStore::connect_cluster_with(["redis://127.0.0.1:7001/"], config).await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "cluster")]
    pub async fn connect_cluster_with<I, S>(nodes: I, config: RedisConfig) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        config.validate()?;
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if nodes.is_empty() {
            return Err(config_error("a Redis Cluster needs at least one node URL"));
        }
        let shown = nodes
            .iter()
            .map(|n| redact_url(n))
            .collect::<Vec<_>>()
            .join(",");
        for node in &nodes {
            check_scheme(node)?;
        }
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut builder = redis::cluster::ClusterClientBuilder::new(nodes.clone())
            .connection_timeout(config.connection_timeout)
            .response_timeout(config.response_timeout)
            .retries(u32::try_from(config.reconnect_retries).unwrap_or(u32::MAX));
        #[cfg(feature = "tls")]
        {
            install_crypto_provider();
            if let Some(root) = &config.tls_root_cert {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root.clone()),
                });
            }
        }
        let scrub = |e: Error| nodes.iter().fold(e, |e, n| without_url_secrets(e, n));
        let client = builder.build().map_err(|e| {
            scrub(
                config_error(format!("invalid Redis Cluster settings for {shown}"))
                    .with_operation(Operation::Connect)
                    .with_source(e),
            )
        })?;
        let conn = client
            .get_async_connection()
            .await
            .map_err(|e| scrub(classify(e, Operation::Connect)))?;
        Ok(Self::build(Conn::Cluster(conn), &config, shown, true))
    }

    /// A store on an existing cluster connection, with the default
    /// [`RedisConfig`].
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7001/"]).unwrap();
    /// let conn = client.get_async_connection().await.unwrap();
    /// let store = store_redis::RedisStore::new_cluster(conn);
    /// # });
    /// ```
    #[cfg(feature = "cluster")]
    pub fn new_cluster(conn: redis::cluster_async::ClusterConnection) -> Self {
        Self::build(
            Conn::Cluster(conn),
            &RedisConfig::default(),
            "(given cluster connection)".into(),
            true,
        )
    }

    /// A store on an existing cluster connection with `config`.
    ///
    /// # Errors
    /// `Config` for an invalid `config`.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7001/"]).unwrap();
    /// let conn = client.get_async_connection().await.unwrap();
    /// let config = store_redis::RedisConfig::default().prefix("app");
    /// let store = store_redis::RedisStore::cluster_with_config(conn, config)?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "cluster")]
    pub fn cluster_with_config(
        conn: redis::cluster_async::ClusterConnection,
        config: RedisConfig,
    ) -> Result<Self> {
        config.validate()?;
        Ok(Self::build(
            Conn::Cluster(conn),
            &config,
            "(given cluster connection)".into(),
            true,
        ))
    }

    fn build(conn: Conn, config: &RedisConfig, endpoint: String, cluster: bool) -> Self {
        let buckets = config.buckets.unwrap_or(if cluster {
            DEFAULT_BUCKETS_CLUSTER
        } else {
            DEFAULT_BUCKETS_SINGLE
        });
        let mut caps = Capabilities::new(BACKEND);
        caps.native_ttl = true;
        caps.ordered_scan = false;
        caps.cluster = cluster;
        caps.shared = true;
        caps.clock = ClockSource::Server;
        caps.max_value_len = config.max_value_len;
        Self {
            conn,
            prefix: config.prefix.as_str().into(),
            bases: bases(&config.prefix, buckets),
            caps,
            endpoint: endpoint.into(),
        }
    }

    /// The same connection and settings on another namespace: like a second
    /// store on the same server, sharing nothing with this one.
    ///
    /// # Errors
    /// `Config` for an invalid prefix (see [`RedisConfig::prefix`]).
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
    /// let tokens = store.with_prefix("tokens")?;
    /// assert_eq!(tokens.prefix(), "tokens");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_prefix(&self, prefix: impl AsRef<str>) -> Result<Self> {
        let prefix = prefix.as_ref();
        validate_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.into(),
            bases: bases(prefix, self.bases.len() as u16),
            ..self.clone()
        })
    }

    /// The namespace of this store.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
    /// assert_eq!(store.prefix(), store_redis::DEFAULT_PREFIX);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many hash-slot buckets the entries are spread over.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
    /// assert_eq!(store.buckets(), 1);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn buckets(&self) -> u16 {
        self.bases.len() as u16
    }

    /// The bucket that holds `key`.
    fn base_of(&self, key: &Key) -> &Bucket {
        &self.bases[self.bucket_of(key)]
    }

    /// The index of the bucket that holds `key`.
    fn bucket_of(&self, key: &Key) -> usize {
        let n = self.bases.len();
        if n == 1 {
            0
        } else {
            (fnv1a(key.as_str().as_bytes()) % n as u64) as usize
        }
    }

    /// Runs an owner script on the owner's set of every bucket, concurrently.
    async fn on_owner_sets(&self, lua: &Lua, owner: &Owner, op: Operation) -> Result<Vec<Value>> {
        let calls = self.bases.iter().map(|base| async move {
            let set = format!("{}{}", base.owners, owner.as_str());
            let args: [&[u8]; 2] = [base.entries.as_bytes(), owner.as_str().as_bytes()];
            self.eval(lua, &[set.as_bytes()], &args, op).await
        });
        try_join_all(calls).await
    }

    async fn eval(
        &self,
        lua: &Lua,
        keys: &[&[u8]],
        args: &[&[u8]],
        op: Operation,
    ) -> Result<Value> {
        let mut conn = self.conn.clone();
        let build = |verb: &str, script: &[u8]| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(script).arg(keys.len());
            for k in keys {
                cmd.arg(*k);
            }
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        let first = build("EVALSHA", lua.hash.as_bytes())
            .query_async(&mut conn)
            .await;
        match first {
            // A restarted or flushed server forgot the script: send it whole
            // (EVAL also caches it again).
            Err(e) if e.kind() == RedisKind::Server(ServerErrorKind::NoScript) => {
                build("EVAL", lua.source.as_bytes())
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| classify(e, op))
            }
            other => other.map_err(|e| classify(e, op)),
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
            Some(t) => cursor::parse_single(t).ok_or_else(scan_cursor_error)?,
        };
        let mut conn = self.conn.clone();
        let reply: Value = self
            .scan_cmd(start, limit)
            .query_async(&mut conn)
            .await
            .map_err(|e| classify(e, Operation::Scan))?;
        let (next, names) = cursor::scan_reply(reply).ok_or_else(bad_scan_reply)?;
        Ok((names, (next != 0).then(|| cursor::single(next))))
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
            Some(t) => cursor::parse_cluster(t).ok_or_else(scan_cursor_error)?,
            None => match primaries(conn).await?.into_iter().next() {
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
        let (next, names) = cursor::scan_reply(reply).ok_or_else(bad_scan_reply)?;
        let next = if next != 0 {
            Some(cursor::cluster(&node, next))
        } else {
            // The primary after this one; a node that joined in between
            // and sorts before it is not scanned.
            primaries(conn)
                .await?
                .into_iter()
                .find(|n| *n > node)
                .map(|n| cursor::cluster(&n, 0))
        };
        Ok((names, next))
    }

    fn scan_cmd(&self, start: u64, limit: usize) -> redis::Cmd {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(start)
            .arg("MATCH")
            .arg(cursor::entry_pattern(&self.prefix))
            .arg("COUNT")
            .arg(limit);
        cmd
    }

    /// What a name found by `SCAN` is to this store.
    fn name_of(&self, name: &[u8]) -> Name {
        let Some(rest) = name
            .strip_prefix(self.prefix.as_bytes())
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
    /// one hash slot), concurrently.
    async fn read_names(&self, names: Vec<Vec<u8>>) -> Result<ScanPage> {
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
        for ((key, name), value) in try_join_all(reads).await?.into_iter().flatten() {
            match value {
                // Deleted or expired since the SCAN.
                Value::Nil => {}
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
        Ok(ScanPage::new(entries).with_unreadable(unreadable))
    }
}

/// A name `SCAN` found under the prefix, as [`RedisStore::name_of`] sees it.
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
async fn primaries(conn: &redis::cluster_async::ClusterConnection) -> Result<Vec<cursor::Node>> {
    use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    let reply = conn
        .clone()
        .route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
        .await
        .map_err(|e| classify(e, Operation::Scan))?;
    match cursor::primaries(reply) {
        Some(cursor::Primaries::Known(nodes)) if !nodes.is_empty() => Ok(nodes),
        Some(cursor::Primaries::Known(_)) => Err(no_primaries()),
        Some(cursor::Primaries::Unaddressable) => Err(Error::new(
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

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for RedisStore {
    /// One `GET`; Redis itself hides an expired key.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        in_ctx(validate::key(&self.caps, key), Operation::Get)?;
        let redis_key = entry_key(self.base_of(key), key);
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("GET")
            .arg(&redis_key)
            .query_async(&mut conn)
            .await
            .map_err(|e| classify(e, Operation::Get))?;
        match reply {
            Value::Nil => Ok(None),
            Value::BulkString(blob) => decode_entry(Bytes::from(blob), Operation::Get).map(Some),
            _ => Err(bad_reply(Operation::Get)),
        }
    }

    /// One script: checks the mode against the current entry, writes the
    /// whole entry with a fresh version and native expiry, and moves the key
    /// between owner sets.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        in_ctx(validate::key(&self.caps, key), Operation::Put)?;
        in_ctx(validate::value(&self.caps, &value), Operation::Put)?;
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
                Operation::Put,
            )
            .await?;
        let mut reply = Reply::new(reply, Operation::Put)?;
        match reply.status.as_slice() {
            b"ok" => Ok(PutResult::new(reply.version()?)),
            b"exists" => Err(Error::already_exists().in_context(BACKEND, Operation::Put)),
            b"missing" => Err(Error::not_found().in_context(BACKEND, Operation::Put)),
            b"mismatch" => Err(Error::version_mismatch().in_context(BACKEND, Operation::Put)),
            b"past" => Err(reply.past(options.expires_at, Operation::Put)),
            other => Err(reply.unexpected(other)),
        }
    }

    /// One script: rewrites the 15 expiry bytes of the header in place and
    /// moves the native expiry (of the entry and its owner set); value and
    /// version untouched.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        in_ctx(validate::key(&self.caps, key), Operation::Touch)?;
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
                Operation::Touch,
            )
            .await?;
        let mut reply = Reply::new(reply, Operation::Touch)?;
        match reply.status.as_slice() {
            b"ok" => Ok(()),
            b"missing" => Err(Error::not_found().in_context(BACKEND, Operation::Touch)),
            b"past" => Err(reply.past(Some(expires_at), Operation::Touch)),
            other => Err(reply.unexpected(other)),
        }
    }

    /// One script: deletes the entry (if it still has `version`) and its
    /// owner-set membership.
    async fn delete(&self, key: &Key, version: Option<Version>) -> Result<bool> {
        in_ctx(validate::key(&self.caps, key), Operation::Delete)?;
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
                Operation::Delete,
            )
            .await?;
        let reply = Reply::new(reply, Operation::Delete)?;
        match reply.status.as_slice() {
            b"ok" => Ok(true),
            b"missing" => Ok(false),
            b"mismatch" => Err(Error::version_mismatch().in_context(BACKEND, Operation::Delete)),
            other => Err(reply.unexpected(other)),
        }
    }

    /// Always `Ok(0)`: Redis deletes expired keys by itself (lazily on
    /// access and by its active expiry cycle), and owner sets expire with
    /// their last member. Nothing is enumerated.
    async fn delete_expired(&self) -> Result<u64> {
        Ok(0)
    }

    /// One script per bucket (run concurrently), each reading the owner's
    /// set and its live entries atomically; stale members are removed.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let replies = self
            .on_owner_sets(&LIST_OWNER, owner, Operation::ListByOwner)
            .await?;
        let mut all = Vec::new();
        for reply in replies {
            all.extend(decode_owned(reply)?);
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// One script per bucket (run concurrently), each deleting the owner's
    /// live entries and set atomically within its hash slot.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        let mut deleted = 0;
        for reply in self.on_owner_sets(&DELETE_OWNER, owner, op).await? {
            match reply {
                Value::Int(n) => deleted += u64::try_from(n).map_err(|_| bad_reply(op))?,
                _ => return Err(bad_reply(op)),
            }
        }
        Ok(deleted)
    }

    /// Pages of one `SCAN <cursor> MATCH <prefix>:{*}:e:* COUNT <limit>`
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
        in_ctx(check_limit(limit), Operation::Scan)?;
        let (names, next) = match &self.conn {
            Conn::Single(_) => self.scan_single(cursor, limit).await?,
            #[cfg(feature = "cluster")]
            Conn::Cluster(conn) => self.scan_cluster(conn, cursor, limit).await?,
        };
        Ok(self.read_names(names).await?.with_next(next))
    }

    /// Native TTL on the server's clock, atomic conditional writes, an
    /// owner index of Redis sets, an unordered scan; `cluster` on a Redis
    /// Cluster.
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
}

/// Names the backend and operation on an input-check error.
fn in_ctx<T>(r: Result<T>, op: Operation) -> Result<T> {
    r.map_err(|e| e.in_context(BACKEND, op))
}

/// The Redis key names of one bucket (one hash slot).
struct Bucket {
    /// `<prefix>:{<bucket>}:e:`, followed by the key.
    entries: Box<str>,
    /// `<prefix>:{<bucket>}:o:`, followed by the owner.
    owners: Box<str>,
    /// `<prefix>:{<bucket>}:n`, the version counter.
    counter: Box<str>,
}

fn bases(prefix: &str, buckets: u16) -> Arc<[Bucket]> {
    (0..buckets)
        .map(|b| Bucket {
            entries: format!("{prefix}:{{{b}}}:e:").into(),
            owners: format!("{prefix}:{{{b}}}:o:").into(),
            counter: format!("{prefix}:{{{b}}}:n").into(),
        })
        .collect()
}

fn entry_key(bucket: &Bucket, key: &Key) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.entries.len() + key.as_str().len());
    k.extend_from_slice(bucket.entries.as_bytes());
    k.extend_from_slice(key.as_str().as_bytes());
    k
}

/// FNV-1a: a stable hash (part of the data layout) choosing a key's bucket.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn open_client(url: &str, config: &RedisConfig) -> Result<redis::Client> {
    check_scheme(url)?;
    #[cfg(feature = "tls")]
    {
        install_crypto_provider();
        if let Some(root) = &config.tls_root_cert {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            };
            return redis::Client::build_with_tls(url, certs).map_err(bad_url);
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = config;
    redis::Client::open(url).map_err(bad_url)
}

fn check_scheme(url: &str) -> Result<()> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    match scheme {
        "redis" | "redis+unix" | "unix" => Ok(()),
        "rediss" if cfg!(feature = "tls") => Ok(()),
        "rediss" => Err(config_error(
            "rediss:// URLs need the `tls` feature of store-redis",
        )),
        // The URL is not shown: where its password is cannot be known.
        _ => Err(config_error(
            "not a Redis URL; expected redis://, rediss:// or redis+unix://",
        )),
    }
}

/// A URL the driver cannot parse. Neither the URL nor the driver's message
/// is kept: a password with an unescaped `/`, `?` or `#` would defeat
/// redaction.
fn bad_url(e: redis::RedisError) -> Error {
    config_error(format!(
        "invalid Redis URL ({}); expected redis://[user:password@]host[:port][/db]",
        e.category()
    ))
    .with_operation(Operation::Connect)
}

#[cfg(feature = "tls")]
fn install_crypto_provider() {
    // Several providers may be compiled in (ring here, aws-lc-rs from
    // another crate): pick one for the process unless one is set already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn bad_reply(op: Operation) -> Error {
    Error::new(
        ErrorKind::Backend,
        "unexpected reply from a store script (is the server Redis 7.0 or newer?)",
    )
    .in_context(BACKEND, op)
}

/// A script reply: a status word and its data.
struct Reply {
    status: Vec<u8>,
    rest: std::vec::IntoIter<Value>,
    op: Operation,
}

impl Reply {
    fn new(value: Value, op: Operation) -> Result<Self> {
        let Value::Array(items) = value else {
            return Err(bad_reply(op));
        };
        let mut rest = items.into_iter();
        let status = match rest.next() {
            Some(Value::BulkString(s)) => s,
            Some(Value::SimpleString(s)) => s.into_bytes(),
            _ => return Err(bad_reply(op)),
        };
        Ok(Self { status, rest, op })
    }

    fn next_str(&mut self) -> Result<String> {
        match self.rest.next() {
            Some(Value::BulkString(s)) => String::from_utf8(s).map_err(|_| bad_reply(self.op)),
            _ => Err(bad_reply(self.op)),
        }
    }

    fn version(&mut self) -> Result<Version> {
        let s = self.next_str()?;
        s.parse::<u64>()
            .map(Version::from_u64)
            .map_err(|_| bad_reply(self.op))
    }

    /// The `InvalidInput` for an expiry not after the server's time.
    fn past(&mut self, expires_at: Option<Expiry>, op: Operation) -> Error {
        let now = self
            .next_str()
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|ms| Expiry::from_unix_millis(ms).ok());
        match (expires_at, now) {
            (Some(e), Some(now)) => match validate::expiry(e, now) {
                Err(err) => err.in_context(BACKEND, op),
                Ok(()) => bad_reply(op),
            },
            _ => bad_reply(op),
        }
    }

    fn unexpected(&self, status: &[u8]) -> Error {
        match status {
            b"type" => foreign(self.op, FOREIGN_TYPE),
            b"foreign" => foreign(self.op, FOREIGN_STRING),
            _ => bad_reply(self.op),
        }
    }
}

/// Length of the fixed header of a stored entry: `s1`, version (20
/// digits), expiry (15 digits or `-`), owner length (3 digits).
const HEADER_LEN: usize = 40;
const MAGIC: &[u8] = b"s1";
const NO_EXPIRY: &str = "---------------";

/// The version as its 20-digit header field.
fn version_field(v: Version) -> String {
    format!("{:020}", v.as_u64())
}

/// The expiry as its 15-digit header field.
fn expiry_field(expiry: Option<Expiry>) -> String {
    match expiry {
        Some(e) => format!("{:015}", e.as_unix_millis()),
        None => NO_EXPIRY.to_owned(),
    }
}

/// The header after the version: expiry, owner length, owner.
fn header_tail(expiry: Option<Expiry>, owner: &str) -> Vec<u8> {
    let mut tail = expiry_field(expiry).into_bytes();
    tail.extend_from_slice(format!("{:03}", owner.len()).as_bytes());
    tail.extend_from_slice(owner.as_bytes());
    tail
}

fn digits<T: std::str::FromStr>(raw: &[u8]) -> Option<T> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// An entry from its stored string; the value is a zero-copy slice of it.
fn decode_entry(blob: Bytes, op: Operation) -> Result<Entry> {
    let not_ours = || foreign(op, FOREIGN_STRING);
    if blob.len() < HEADER_LEN || &blob[..2] != MAGIC {
        return Err(not_ours());
    }
    let version = digits::<u64>(&blob[2..22])
        .map(Version::from_u64)
        .ok_or_else(not_ours)?;
    let expiry = match &blob[22..37] {
        raw if raw == NO_EXPIRY.as_bytes() => None,
        raw => Some(
            digits::<i64>(raw)
                .and_then(|ms| Expiry::from_unix_millis(ms).ok())
                .ok_or_else(not_ours)?,
        ),
    };
    let owner_len = digits::<usize>(&blob[37..40]).ok_or_else(not_ours)?;
    let value_start = HEADER_LEN + owner_len;
    if blob.len() < value_start {
        return Err(not_ours());
    }
    let owner = match owner_len {
        0 => None,
        _ => Some(
            std::str::from_utf8(&blob[HEADER_LEN..value_start])
                .ok()
                .and_then(|s| Owner::new(s).ok())
                .ok_or_else(not_ours)?,
        ),
    };
    Ok(Entry::new(blob.slice(value_start..), version)
        .with_expiry(expiry)
        .with_owner(owner))
}

/// The flat (key, stored string) pairs of `LIST_OWNER`.
fn decode_owned(reply: Value) -> Result<Vec<(Key, Entry)>> {
    let op = Operation::ListByOwner;
    let Value::Array(items) = reply else {
        return Err(bad_reply(op));
    };
    if items.len() % 2 != 0 {
        return Err(bad_reply(op));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(blob)) = (it.next(), it.next()) {
        let (Value::BulkString(k), Value::BulkString(blob)) = (k, blob) else {
            return Err(bad_reply(op));
        };
        let key = std::str::from_utf8(&k)
            .ok()
            .and_then(|s| Key::new(s).ok())
            .ok_or_else(|| foreign(op, "an owner set holds a member that is not a valid key"))?;
        out.push((key, decode_entry(Bytes::from(blob), op)?));
    }
    Ok(out)
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_tagged() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let b = bases("app", 3);
        assert_eq!(&*b[2].owners, "app:{2}:o:");
        assert_eq!(&*b[2].counter, "app:{2}:n");
        let key = Key::new("k").unwrap();
        assert_eq!(entry_key(&b[0], &key), b"app:{0}:e:k");
    }

    #[test]
    fn secrets_are_scrubbed_from_errors() {
        let url = "redis://user:hunter2@host/";
        let e = Error::new(ErrorKind::Config, "bad hunter2 url")
            .with_source(std::io::Error::other("hunter2"));
        let clean = without_url_secrets(e, url);
        assert!(!format!("{clean:?} {clean}").contains("hunter2"));
        assert!(check_scheme("http://x").is_err());
        assert!(check_scheme("redis://x").is_ok());
    }
}
