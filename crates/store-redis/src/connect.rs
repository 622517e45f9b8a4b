//! [`RedisStore`]: the store, its connection to a single server or a Redis
//! Cluster, its constructors, and opening it from a URL
//! ([`store_core::Open`]).

use std::fmt;
use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use store_core::{
    Capabilities, ClockSource, Error, Open, OpenOptions, Operation, Result, async_trait,
    check_scheme, redact_url, without_url_secrets,
};

use crate::config::{
    DEFAULT_BUCKETS_CLUSTER, DEFAULT_BUCKETS_SINGLE, RedisConfig, Topology, config_error, topology,
    validate_namespace,
};
use crate::error::classify;
use crate::query::{Bucket, bases};
use crate::{BACKEND, SCHEMES};

/// A cheap-to-clone multiplexed connection; clones share one socket (per
/// node) and reconnect by themselves.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A single server through a [`ConnectionManager`]. After a lost
    /// connection the manager reconnects in the background, on a schedule
    /// of retries with exponential backoff, and a call waits for that
    /// schedule; [`RedisConfig::operation_timeout`] cuts that wait (the
    /// reconnection goes on, so a later call finds the new connection).
    Single(ConnectionManager),
    /// A Redis Cluster, which follows redirections and reconnects to nodes
    /// by itself.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
    /// The master of a Redis Sentinel group, found again through the
    /// sentinels after a failover.
    #[cfg(feature = "sentinel")]
    Sentinel(SentinelConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// A connection to whichever server the sentinels name as the master of a
/// Sentinel group.
///
/// Clones share one multiplexed connection. A call that finds the
/// connection lost, the server no longer a master (`READONLY`) or not
/// answering fails with its (retryable) error and drops the connection, so
/// the next call asks the sentinels again: after a failover the store
/// follows the promoted replica by itself.
#[cfg(feature = "sentinel")]
#[derive(Clone)]
pub(crate) struct SentinelConn(Arc<SentinelShared>);

#[cfg(feature = "sentinel")]
struct SentinelShared {
    /// Asks the sentinels; one lookup at a time.
    client: tokio::sync::Mutex<redis::sentinel::SentinelClient>,
    /// The master's connection and the number of the lookup that found it.
    current: std::sync::Mutex<Option<(u64, redis::aio::MultiplexedConnection)>>,
    lookups: std::sync::atomic::AtomicU64,
    config: redis::AsyncConnectionConfig,
    db: i64,
}

#[cfg(feature = "sentinel")]
impl SentinelConn {
    fn new(
        client: redis::sentinel::SentinelClient,
        config: redis::AsyncConnectionConfig,
        db: i64,
    ) -> Self {
        Self(Arc::new(SentinelShared {
            client: tokio::sync::Mutex::new(client),
            current: std::sync::Mutex::new(None),
            lookups: std::sync::atomic::AtomicU64::new(0),
            config,
            db,
        }))
    }

    fn cached(&self) -> Option<(u64, redis::aio::MultiplexedConnection)> {
        self.0
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The master's connection: the shared one, or a new one to the server
    /// the sentinels name now (which also checks that it says it is a master).
    async fn master(&self) -> redis::RedisResult<(u64, redis::aio::MultiplexedConnection)> {
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let mut client = self.0.client.lock().await;
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let conn = client
            .get_async_connection_with_config(&self.0.config)
            .await?;
        let lookup = self
            .0
            .lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self
            .0
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((lookup, conn.clone()));
        Ok((lookup, conn))
    }

    /// After `e` on the connection of `lookup`: drops that connection when
    /// `e` says it is gone or no longer a master's.
    fn after_error(&self, lookup: u64, e: &redis::RedisError) {
        use redis::{ErrorKind as RedisKind, ServerErrorKind};
        let lost = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_unrecoverable_error()
            || matches!(
                e.kind(),
                RedisKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
            );
        if lost {
            let mut current = self
                .0
                .current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.as_ref().is_some_and(|(l, _)| *l == lookup) {
                *current = None;
            }
        }
    }
}

#[cfg(feature = "sentinel")]
impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (lookup, mut conn) = self.master().await?;
            let reply = conn.req_packed_command(cmd).await;
            if let Err(e) = &reply {
                self.after_error(lookup, e);
            }
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (lookup, mut conn) = self.master().await?;
            let reply = conn.req_packed_commands(cmd, offset, count).await;
            if let Err(e) = &reply {
                self.after_error(lookup, e);
            }
            reply
        })
    }

    fn get_db(&self) -> i64 {
        self.0.db
    }
}

/// A connection a [`RedisStore`] can be built on with [`RedisStore::new`]
/// or [`RedisStore::with_config`]: made from the driver's
/// [`ConnectionManager`] (one server) or, with the `cluster` feature, its
/// `ClusterConnection` (a Redis Cluster).
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
/// let manager = redis::aio::ConnectionManager::new(client).await.unwrap();
/// let conn = store_redis::RedisConnection::from(manager);
/// assert!(!conn.is_cluster());
/// let store = store_redis::RedisStore::new(conn);
/// # });
/// ```
#[derive(Clone)]
pub struct RedisConnection(Conn);

impl RedisConnection {
    /// Whether this is a connection to a Redis Cluster.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    /// let manager = redis::aio::ConnectionManager::new(client).await.unwrap();
    /// assert!(!store_redis::RedisConnection::from(manager).is_cluster());
    /// # });
    /// ```
    pub fn is_cluster(&self) -> bool {
        match self.0 {
            Conn::Single(_) => false,
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => true,
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(_) => false,
        }
    }
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("cluster", &self.is_cluster())
            .finish()
    }
}

impl From<ConnectionManager> for RedisConnection {
    fn from(manager: ConnectionManager) -> Self {
        Self(Conn::Single(manager))
    }
}

#[cfg(feature = "cluster")]
impl From<redis::cluster_async::ClusterConnection> for RedisConnection {
    fn from(conn: redis::cluster_async::ClusterConnection) -> Self {
        Self(Conn::Cluster(conn))
    }
}

/// A [`Store`](store_core::Store) on Redis: a single server (through a
/// [`ConnectionManager`] that reconnects by itself) or, with the `cluster`
/// feature, a Redis Cluster.
///
/// Cheap to clone: clones share the connection. Every write is one Lua
/// script run atomically by the server; reads are one `GET`. The
/// server's clock decides expiry, which Redis enforces natively, so
/// [`Store::delete_expired`](store_core::Store::delete_expired) has nothing
/// to do. Each call is bounded by [`RedisConfig::operation_timeout`].
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
    pub(crate) conn: Conn,
    /// The settings, the namespace included (as checked when the store was
    /// made).
    pub(crate) config: Arc<RedisConfig>,
    /// The key names of every bucket.
    pub(crate) bases: Arc<[Bucket]>,
    pub(crate) caps: Capabilities,
    /// Where the store connects, with any password redacted.
    endpoint: Arc<str>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("endpoint", &self.endpoint)
            .field("namespace", &self.config.namespace)
            .field("buckets", &self.bases.len())
            .field("cluster", &self.caps.cluster)
            .field("operation_timeout", &self.config.operation_timeout)
            .finish()
    }
}

impl RedisStore {
    /// Connects with the default [`RedisConfig`] to what the URL names:
    ///
    /// - one server: `redis://[user:password@]host[:port][/db]`,
    ///   `rediss://…` (feature `tls`), `redis+unix:///path/to.sock`;
    /// - a Redis Cluster through any of its nodes (feature `cluster`):
    ///   `redis+cluster://[user:password@]host:port,host:port,…/`
    ///   (`rediss+cluster://` over TLS with the `tls` feature), as
    ///   [`RedisStore::connect_cluster`];
    /// - the master of a Sentinel group (feature `sentinel`):
    ///   `redis+sentinel://[user:password@]host:port,host:port,…/master-name[/db]`,
    ///   the hosts being the sentinels (port 26379 when left out) and the
    ///   credentials the master's; `?sentinel_username=…&sentinel_password=…`
    ///   authenticate to the sentinels. The store asks the sentinels which
    ///   server is the master, checks it says so (`ROLE`), and asks again
    ///   whenever the connection is lost or the server turns read-only: during
    ///   a failover calls fail with a retryable `Unavailable`, then work on
    ///   the promoted replica without a restart.
    ///
    /// A `scan_index=true` query parameter, on any of these, turns on
    /// [`RedisConfig::scan_index`] (and `scan_index=false` turns it off);
    /// it is not passed on to the server.
    ///
    /// # Errors
    /// `Config` for a malformed URL or rejected credentials, `Unavailable`
    /// when the server (or no sentinel, or no master of that name) can be
    /// reached. No error contains the password.
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

    /// Connects to what the URL names (see [`RedisStore::connect`]) with
    /// `config`.
    ///
    /// # Errors
    /// As [`RedisStore::connect`], plus `Config` for an invalid `config`.
    ///
    /// ```no_run
    /// use store_redis::{RedisConfig, RedisStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = RedisConfig::default().namespace("myapp");
    /// let store = RedisStore::connect_with("redis://127.0.0.1:6379/", config).await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, config: RedisConfig) -> Result<Self> {
        let (url, scan_index) = take_scan_index(url)?;
        let url = url.as_str();
        let config = match scan_index {
            Some(on) => config.scan_index(on),
            None => config,
        };
        config.validate()?;
        match topology(url)? {
            Topology::Single => Self::connect_single(url, config).await,
            #[cfg(feature = "cluster")]
            Topology::Cluster(nodes) => {
                let mut store = Self::connect_cluster_with(nodes, config)
                    .await
                    .map_err(|e| without_url_secrets(e, url))?;
                store.endpoint = redact_url(url).into();
                Ok(store)
            }
            #[cfg(not(feature = "cluster"))]
            Topology::Cluster(_) => Err(config_error(
                "redis+cluster:// URLs need the `cluster` feature of store-redis",
            )),
            #[cfg(feature = "sentinel")]
            Topology::Sentinel {
                sentinels,
                master,
                data,
            } => Self::connect_sentinel(url, &sentinels, master, &data, config).await,
            #[cfg(not(feature = "sentinel"))]
            Topology::Sentinel { .. } => Err(config_error(
                "redis+sentinel:// URLs need the `sentinel` feature of store-redis",
            )),
        }
    }

    async fn connect_single(url: &str, config: RedisConfig) -> Result<Self> {
        let client = open_client(url, &config)?;
        // One plain attempt first, so that an unreachable server or bad
        // credentials fail at once with their own error instead of after
        // the reconnect schedule.
        let probe_config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(Some(config.operation_timeout));
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
        // No response timeout of the driver's: every call of the store is
        // bounded by `operation_timeout` already (`within`), which also
        // cuts a wait for a reconnection; a second timer per call would
        // only cost time.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(None)
            .set_number_of_retries(config.reconnect_retries);
        let manager = ConnectionManager::new_with_config(client, manager_config)
            .await
            .map_err(|e| without_url_secrets(classify(e, Operation::Connect), url))?;
        Ok(Self::build(Conn::Single(manager), config, redact_url(url)))
    }

    /// A store on an existing connection, with the default [`RedisConfig`]:
    /// a [`ConnectionManager`] (one server) or, with the `cluster` feature,
    /// a `redis::cluster_async::ClusterConnection` (a Redis Cluster; the
    /// default bucket count is then 16).
    ///
    /// The connection keeps its own timeouts and reconnect schedule; each
    /// store call is bounded by [`RedisConfig::operation_timeout`] besides.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    /// let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    /// let store = store_redis::RedisStore::new(conn);
    /// # });
    /// ```
    pub fn new(conn: impl Into<RedisConnection>) -> Self {
        Self::given(conn.into(), RedisConfig::default())
    }

    /// A store on an existing connection (as in [`RedisStore::new`]) with
    /// `config`. The connection's own timeouts are not changed; `config`'s
    /// `operation_timeout` bounds each store call.
    ///
    /// # Errors
    /// `Config` for an invalid `config`.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    /// let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    /// let config = store_redis::RedisConfig::default().namespace("app");
    /// let store = store_redis::RedisStore::with_config(conn, config)?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_config(conn: impl Into<RedisConnection>, config: RedisConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::given(conn.into(), config))
    }

    fn given(conn: RedisConnection, config: RedisConfig) -> Self {
        let endpoint = if conn.is_cluster() {
            "(given cluster connection)"
        } else {
            "(given connection)"
        };
        Self::build(conn.0, config, endpoint.to_owned())
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
            check_tls_scheme(node)?;
        }
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut builder = redis::cluster::ClusterClientBuilder::new(nodes.clone())
            .connection_timeout(config.connection_timeout)
            .response_timeout(config.operation_timeout)
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
        Ok(Self::build(Conn::Cluster(conn), config, shown))
    }

    /// The master of a Sentinel group, found through `sentinels`; `data`
    /// carries the master's credentials and database.
    #[cfg(feature = "sentinel")]
    async fn connect_sentinel(
        url: &str,
        sentinels: &[String],
        master: String,
        data: &str,
        config: RedisConfig,
    ) -> Result<Self> {
        use redis::IntoConnectionInfo;
        use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
        let scrub = |e: Error| {
            sentinels.iter().fold(
                without_url_secrets(without_url_secrets(e, url), data),
                |e, s| without_url_secrets(e, s),
            )
        };
        let info = data.into_connection_info().map_err(bad_url)?;
        let settings = info.redis_settings().clone();
        let db = settings.db();
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(settings);
        let client = SentinelClient::build(
            sentinels.to_vec(),
            master,
            Some(node),
            SentinelServerType::Master,
        )
        .map_err(|e| scrub(bad_url(e)))?;
        let conn_config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(Some(config.operation_timeout));
        let conn = SentinelConn::new(client, conn_config, db);
        // Find the master now, so that unreachable sentinels, an unknown
        // master or bad credentials fail here with their own error.
        let mut probe = conn.clone();
        let ping = async {
            redis::cmd("PING")
                .query_async::<()>(&mut probe)
                .await
                .map_err(|e| classify(e, Operation::Connect))
        };
        store_core::within(config.connection_timeout, BACKEND, Operation::Connect, ping)
            .await
            .map_err(scrub)?;
        Ok(Self::build(Conn::Sentinel(conn), config, redact_url(url)))
    }

    fn build(conn: Conn, config: RedisConfig, endpoint: String) -> Self {
        let cluster = RedisConnection(conn.clone()).is_cluster();
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
            bases: bases(&config.namespace, buckets),
            config: Arc::new(config),
            caps,
            endpoint: endpoint.into(),
        }
    }

    /// The same connection and settings on another namespace: like a second
    /// store on the same server, sharing nothing with this one.
    ///
    /// # Errors
    /// `Config` for an invalid namespace (see [`RedisConfig::namespace`]).
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
    /// let tokens = store.with_namespace("tokens")?;
    /// assert_eq!(tokens.namespace(), "tokens");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_namespace(&self, namespace: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        validate_namespace(&namespace)?;
        let bases = bases(&namespace, self.bases.len() as u16);
        let mut config = RedisConfig::clone(&self.config);
        config.namespace = namespace;
        Ok(Self {
            bases,
            config: Arc::new(config),
            ..self.clone()
        })
    }

    /// The namespace of this store: every Redis key it uses starts with
    /// `namespace:`.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
    /// assert_eq!(store.namespace(), store_redis::DEFAULT_NAMESPACE);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn namespace(&self) -> &str {
        &self.config.namespace
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

    /// Nothing to create on Redis: keys come into being with their first
    /// write and expire natively, so this returns `Ok(())` at once. It
    /// exists so that every backend is set up the same way.
    ///
    /// # Errors
    /// None.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
    /// store.setup().await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn setup(&self) -> Result<()> {
        Ok(())
    }
}

/// Every URL of [`SCHEMES`]: one server (`redis://`, `rediss://`,
/// `redis+unix://`, `unix://`), a Redis Cluster (`redis+cluster://`,
/// `rediss+cluster://`) or a Sentinel group's master (`redis+sentinel://`):
/// [`RedisStore::connect_with`] with the options' namespace and
/// operation timeout (a purge batch is ignored: Redis expires entries by
/// itself), then [`RedisStore::setup`] when asked.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use store_core::{Open, OpenOptions};
/// use store_redis::RedisStore;
/// let options = OpenOptions::default().namespace("sessions");
/// let store = RedisStore::open("redis://127.0.0.1:6379/", &options).await?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
impl Open for RedisStore {
    const NAME: &'static str = BACKEND;
    const SCHEMES: &'static [&'static str] = SCHEMES;

    async fn open(url: &str, options: &OpenOptions) -> Result<Self> {
        check_scheme(url, BACKEND, SCHEMES)?;
        let mut config = RedisConfig::default();
        if let Some(namespace) = options.namespace.as_deref() {
            config = config.namespace(namespace);
        }
        if let Some(timeout) = options.operation_timeout {
            config = config.operation_timeout(timeout);
        }
        let store = Self::connect_with(url, config).await?;
        if options.setup {
            store.setup().await?;
        }
        Ok(store)
    }
}

/// The URL without its `scan_index` query parameter, and that parameter's
/// value (`true` or `false`) when it is there.
fn take_scan_index(url: &str) -> Result<(String, Option<bool>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut on = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("scan_index", value)) => {
                on = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(config_error(
                            "the URL's scan_index parameter must be `true` or `false`",
                        ));
                    }
                });
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, on))
}

fn open_client(url: &str, config: &RedisConfig) -> Result<redis::Client> {
    check_tls_scheme(url)?;
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

fn check_tls_scheme(url: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use store_core::ErrorKind;

    use super::*;

    #[test]
    fn secrets_are_scrubbed_from_errors() {
        let url = "redis://user:hunter2@host/";
        let e = Error::new(ErrorKind::Config, "bad hunter2 url")
            .with_source(std::io::Error::other("hunter2"));
        let clean = without_url_secrets(e, url);
        assert!(!format!("{clean:?} {clean}").contains("hunter2"));
        assert!(check_tls_scheme("http://x").is_err());
        assert!(check_tls_scheme("redis://x").is_ok());
    }

    #[test]
    fn the_scan_index_parameter_is_taken_from_the_url() {
        let take = |url: &str| take_scan_index(url).map_err(|e| e.kind());
        assert_eq!(take("redis://h/"), Ok(("redis://h/".to_owned(), None)));
        assert_eq!(
            take("redis://h/2?scan_index=true"),
            Ok(("redis://h/2".to_owned(), Some(true)))
        );
        assert_eq!(
            take("redis+sentinel://s/m?sentinel_password=x&scan_index=false&protocol=resp3"),
            Ok((
                "redis+sentinel://s/m?sentinel_password=x&protocol=resp3".to_owned(),
                Some(false)
            ))
        );
        assert_eq!(take("redis://h/?scan_index=yes"), Err(ErrorKind::Config));
        assert_eq!(
            take("redis://h/?scan_index"),
            Ok(("redis://h/?scan_index".to_owned(), None))
        );
    }

    #[tokio::test]
    async fn open_refuses_other_schemes_without_showing_secrets() {
        let options = OpenOptions::default();
        let e = RedisStore::open("postgres://u:hunter2@h/db", &options)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!format!("{e:?} {e}").contains("hunter2"), "{e}");
        assert!(SCHEMES.iter().all(|s| *s == s.to_ascii_lowercase()));
        assert_eq!(RedisStore::SCHEMES[0], "redis");
    }
}
