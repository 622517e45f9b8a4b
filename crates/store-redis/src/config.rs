//! [`RedisConfig`]: namespace, timeouts, limits and TLS roots of a
//! [`RedisStore`](crate::RedisStore), and the namespace check.

use std::fmt;
use std::time::Duration;

use store_core::{DEFAULT_MAX_VALUE_LEN, Error, ErrorKind, Result, redact_url};

/// The namespace (key prefix) of a store whose config does not set one.
pub const DEFAULT_NAMESPACE: &str = "store";

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 128;

/// How long connecting, and one whole store call, may take by default;
/// hence also how long a call may take while the server is down.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a lost connection is retried by default after a first
/// failed attempt, backing off exponentially from 100 ms. Calls do not wait
/// for these retries longer than their own bound (see
/// [`RedisConfig::operation_timeout`]).
pub const DEFAULT_RECONNECT_RETRIES: usize = 6;

/// Buckets of a store on a single server: one.
pub const DEFAULT_BUCKETS_SINGLE: u16 = 1;

/// Buckets of a store on a Redis Cluster: 16 hash slots, spread over the
/// masters.
pub const DEFAULT_BUCKETS_CLUSTER: u16 = 16;

/// The largest bucket count accepted.
pub const MAX_BUCKETS: u16 = 1024;

/// Settings of a [`RedisStore`](crate::RedisStore).
///
/// ```
/// use std::time::Duration;
/// use store_redis::RedisConfig;
///
/// let config = RedisConfig::default()
///     .namespace("myapp:sessions")
///     .operation_timeout(Duration::from_secs(2));
/// assert!(format!("{config:?}").contains("myapp:sessions"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) namespace: String,
    pub(crate) buckets: Option<u16>,
    pub(crate) connection_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) reconnect_retries: usize,
    pub(crate) max_value_len: usize,
    /// `WAIT` after each write: how many replicas, and for how long.
    pub(crate) replica_acks: Option<(u32, Duration)>,
    /// Keep an index of the namespace's keys that scans read.
    pub(crate) scan_index: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls_root_cert: Option<Vec<u8>>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            buckets: None,
            connection_timeout: DEFAULT_TIMEOUT,
            operation_timeout: DEFAULT_TIMEOUT,
            reconnect_retries: DEFAULT_RECONNECT_RETRIES,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            replica_acks: None,
            scan_index: false,
            #[cfg(feature = "tls")]
            tls_root_cert: None,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RedisConfig");
        d.field("namespace", &self.namespace)
            .field("buckets", &self.buckets)
            .field("connection_timeout", &self.connection_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("max_value_len", &self.max_value_len)
            .field("replica_acks", &self.replica_acks)
            .field("scan_index", &self.scan_index);
        #[cfg(feature = "tls")]
        d.field(
            "tls_root_cert",
            &self.tls_root_cert.as_ref().map(|_| "custom"),
        );
        d.finish()
    }
}

impl RedisConfig {
    /// The namespace: every Redis key of the store starts with
    /// `namespace:` (default [`DEFAULT_NAMESPACE`]). 1–128 bytes, no control
    /// characters, no `{` or `}` (the store uses hash tags of its own; see
    /// the crate docs).
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().namespace("app");
    /// assert!(format!("{config:?}").contains("\"app\""));
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How many hash-slot buckets the entries are spread over (1–1024).
    /// Default: 1 on a single server, 16 on a cluster. Part of the data
    /// layout: every store on the same namespace must use the same count.
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().buckets(64);
    /// # let _ = config;
    /// ```
    pub fn buckets(mut self, buckets: u16) -> Self {
        self.buckets = Some(buckets);
        self
    }

    /// The longest a new connection may take (default 5 s): connecting,
    /// and each attempt of a reconnection in the background.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = store_redis::RedisConfig::default().connection_timeout(Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The longest one store call may take (default 5 s), waiting for a
    /// reconnection included; then it fails with a retryable `Unavailable`
    /// (a write may or may not have been applied). It bounds every call, on
    /// a single server or a cluster, on a connection the store opened or
    /// one given to [`RedisStore::new`](crate::RedisStore::new). On the
    /// connections the store opens it is also the driver's wait for each
    /// reply.
    ///
    /// While the server is down each call therefore fails within this
    /// bound (the first one at once), although the reconnect schedule (see
    /// [`RedisConfig::reconnect_retries`]) runs longer. The reconnection
    /// goes on in the background, and the same store works again once the
    /// server is back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = store_redis::RedisConfig::default().operation_timeout(Duration::from_millis(500));
    /// # let _ = config;
    /// ```
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried after a first failed
    /// attempt (default 6). The pauses between attempts start at 100 ms and
    /// double, each lengthened by up to as much again as jitter: with 6
    /// retries about 9.5 s in all (at most 12.6 s), each attempt bounded by
    /// [`RedisConfig::connection_timeout`]. When the retries are used up,
    /// the next call starts another round. Calls made meanwhile do not wait
    /// for the schedule: each fails with `Unavailable` within its bound
    /// (see [`RedisConfig::operation_timeout`]), and the store reconnects by
    /// itself.
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().reconnect_retries(3);
    /// # let _ = config;
    /// ```
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// The largest value accepted, in bytes (default 4 MiB; at least 1 MiB,
    /// at most Redis' 512 MiB).
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().max_value_len(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn max_value_len(mut self, max_value_len: usize) -> Self {
        self.max_value_len = max_value_len;
        self
    }

    /// Acknowledged by replicas: after each write (`put`, `delete`,
    /// `touch`, `delete_by_owner`) the store sends `WAIT replicas timeout`
    /// in the same round trip, so that the write is on `replicas` replicas
    /// before the call returns. Redis replicates asynchronously: without
    /// this, a write acknowledged in the last moments before the master
    /// fails can be missing from the replica promoted in its place.
    ///
    /// When fewer replicas acknowledge within `timeout`, the call fails
    /// with a retryable `Unavailable` that says so: **the write was applied
    /// on the master** and may still reach the replicas, so a retried
    /// `Create` can find its own entry. This narrows the loss window but
    /// does not close it: a failover can still promote a replica that did
    /// not acknowledge (Redis' `WAIT` is not a consensus protocol). `timeout`
    /// must be shorter than [`RedisConfig::operation_timeout`].
    ///
    /// The cost: one `WAIT` in the write's round trip, that is the
    /// replication delay (on a local network, well under a millisecond).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = store_redis::RedisConfig::default()
    ///     .wait_for_replicas(1, Duration::from_millis(200));
    /// assert!(format!("{config:?}").contains("replica_acks: Some((1, 200ms))"));
    /// ```
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.replica_acks = Some((replicas, timeout));
        self
    }

    /// Keep an index of the namespace's keys, so that a scan costs in
    /// proportion to the namespace instead of the whole database (default
    /// off).
    ///
    /// Without it, [`Store::scan`](store_core::Store::scan) walks the
    /// logical database with `SCAN` and picks out the namespace's keys: on
    /// a server that also holds a million keys of other namespaces or
    /// other programs, scanning a namespace of a hundred entries visits all
    /// of them. With it, every write also adds its key to a Redis set of
    /// the namespace, chosen by the entry's expiry (one set per expiry
    /// window, which expires by itself after the last entry it can hold;
    /// entries without an expiry share one set), in the same `MULTI`/`EXEC`
    /// or script as the write; a scan reads those sets with `SSCAN`.
    ///
    /// The price is on the write path: a plain `put` becomes a `MULTI` of
    /// three commands instead of one `SET` (see docs/performance.md for the
    /// measured ratio). Turn it on where a namespace is scanned often on a
    /// database it shares (`storectl copy`, `stats`, a listing page).
    ///
    /// Every process writing the namespace must have it on: a write from a
    /// store without it is not indexed, and an indexed scan does not see
    /// it. Entries written before it was turned on are indexed by
    /// [`RedisStore::build_scan_index`](crate::RedisStore::build_scan_index)
    /// (one walk of the database). A scan cursor of one kind is refused by
    /// a store of the other. The clocks of the writing processes and of the
    /// scanning one must be within 10 minutes of each other (an entry
    /// written by a clock further ahead may be missed by a scan).
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().scan_index(true);
    /// assert!(format!("{config:?}").contains("scan_index: true"));
    /// ```
    pub fn scan_index(mut self, on: bool) -> Self {
        self.scan_index = on;
        self
    }

    /// Trust this PEM root certificate for `rediss://` instead of the
    /// system's roots (for a private CA or a self-signed server).
    ///
    /// ```
    /// let pem = std::fs::read("ca.pem").unwrap_or_default();
    /// let config = store_redis::RedisConfig::default().tls_root_cert(pem);
    /// # let _ = config;
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_cert = Some(pem.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_namespace(&self.namespace)?;
        if let Some(b) = self.buckets {
            if b == 0 || b > MAX_BUCKETS {
                return Err(config_error(format!(
                    "buckets must be between 1 and {MAX_BUCKETS}, got {b}"
                )));
            }
        }
        const MIN_VALUE: usize = 1 << 20;
        const MAX_VALUE: usize = 512 << 20;
        if !(MIN_VALUE..=MAX_VALUE).contains(&self.max_value_len) {
            return Err(config_error(format!(
                "max_value_len must be between {MIN_VALUE} and {MAX_VALUE} bytes, got {}",
                self.max_value_len
            )));
        }
        if self.connection_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err(config_error("timeouts must be greater than zero"));
        }
        if let Some((replicas, timeout)) = self.replica_acks {
            if replicas == 0 || timeout.is_zero() || timeout >= self.operation_timeout {
                return Err(config_error(format!(
                    "wait_for_replicas needs at least 1 replica and a timeout above zero and \
                     below the operation timeout ({:?}), got {replicas} and {timeout:?}",
                    self.operation_timeout
                )));
            }
        }
        Ok(())
    }
}

pub(crate) fn validate_namespace(namespace: &str) -> Result<()> {
    if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_LEN {
        return Err(config_error(format!(
            "the namespace must be 1 to {MAX_NAMESPACE_LEN} bytes long, got {} bytes",
            namespace.len()
        )));
    }
    if namespace
        .chars()
        .any(|c| c.is_control() || c == '{' || c == '}')
    {
        return Err(config_error(
            "the namespace must not contain control characters, `{` or `}` \
             (braces would change the store's Redis Cluster hash tags)",
        ));
    }
    Ok(())
}

pub(crate) fn config_error(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Config, message).with_backend(crate::BACKEND)
}

/// The default port of a Redis Sentinel.
const SENTINEL_PORT: u16 = 26379;

/// Where a Redis URL points (see [`RedisStore::connect`](crate::RedisStore::connect)).
/// Its `Debug` redacts the URLs' passwords.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server (`redis://`, `rediss://`, `redis+unix://`, `unix://`):
    /// the URL is used as given.
    Single,
    /// A Redis Cluster (`redis+cluster://` or `rediss+cluster://`): one
    /// node URL per seed node, with the URL's credentials.
    Cluster(Vec<String>),
    /// The master of a Sentinel group (`redis+sentinel://`).
    Sentinel {
        /// One `redis://` URL per sentinel, with the `sentinel_username`
        /// and `sentinel_password` parameters as credentials.
        sentinels: Vec<String>,
        /// The name the sentinels know the master by.
        master: String,
        /// A `redis://` URL carrying the credentials and database the
        /// master (whichever server it is) is opened with.
        data: String,
    },
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |urls: &[String]| urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>();
        match self {
            Self::Single => f.write_str("Single"),
            Self::Cluster(nodes) => f.debug_tuple("Cluster").field(&redacted(nodes)).finish(),
            Self::Sentinel {
                sentinels,
                master,
                data,
            } => f
                .debug_struct("Sentinel")
                .field("sentinels", &redacted(sentinels))
                .field("master", master)
                .field("data", &redact_url(data))
                .finish(),
        }
    }
}

/// The topology a URL names, its host list split into one URL per node.
///
/// Multi-host URLs are `SCHEME://[user:password@]host[:port],host[:port]…/`
/// then, for Sentinel, `MASTER-NAME[/db][?sentinel_username=…&sentinel_password=…]`.
/// Errors never contain the URL: where its password is cannot be known.
pub(crate) fn topology(url: &str) -> Result<Topology> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(Topology::Single);
    };
    let (node_scheme, sentinel) = match scheme.to_ascii_lowercase().as_str() {
        "redis+cluster" => ("redis", false),
        "rediss+cluster" => ("rediss", false),
        "redis+sentinel" => ("redis", true),
        "rediss+sentinel" => {
            return Err(config_error(
                "TLS through Redis Sentinel (rediss+sentinel://) is not supported; \
                 use redis+sentinel:// on a private network",
            ));
        }
        _ => return Ok(Topology::Single),
    };
    let form = if sentinel {
        "redis+sentinel://[user:password@]host:port,host:port/master-name[/db]"
    } else {
        "redis+cluster://[user:password@]host:port,host:port/"
    };
    let malformed =
        |what: &str| config_error(format!("invalid Redis URL: {what}; expected {form}"));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (auth, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(malformed("an empty host in the host list"));
    }
    if tail.contains('#') {
        return Err(malformed("a fragment (#…)"));
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    if !sentinel {
        if !matches!(path, "" | "/" | "/0") {
            return Err(malformed("a Redis Cluster has only database 0"));
        }
        if !query.is_empty() {
            return Err(malformed("query parameters are not taken"));
        }
        let nodes = hosts
            .iter()
            .map(|h| format!("{node_scheme}://{auth}{h}/"))
            .collect();
        return Ok(Topology::Cluster(nodes));
    }
    let mut parts = path.trim_start_matches('/').split('/');
    let master = parts.next().unwrap_or("");
    if master.is_empty() {
        return Err(malformed("the master's name is missing"));
    }
    let db = parts.next().filter(|d| !d.is_empty()).unwrap_or("0");
    if db.parse::<u32>().is_err() || parts.next().is_some() {
        return Err(malformed(
            "the database after the master's name must be a number",
        ));
    }
    let (mut user, mut password) = ("", None);
    for param in query.split('&').filter(|p| !p.is_empty()) {
        match param.split_once('=') {
            Some(("sentinel_username", v)) => user = v,
            Some(("sentinel_password", v)) => password = Some(v),
            // Only the name is shown: the value may be a secret.
            _ => {
                let name = param.split_once('=').map_or(param, |(n, _)| n);
                return Err(malformed(&format!(
                    "unknown parameter `{name}` (taken: sentinel_username, sentinel_password)"
                )));
            }
        }
    }
    let sentinel_auth = match password {
        Some(p) => format!("{user}:{p}@"),
        None if !user.is_empty() => format!("{user}@"),
        None => String::new(),
    };
    let sentinels = hosts
        .iter()
        .map(|h| format!("redis://{sentinel_auth}{}/", with_port(h, SENTINEL_PORT)))
        .collect();
    Ok(Topology::Sentinel {
        sentinels,
        master: master.to_owned(),
        data: format!("redis://{auth}{}/{db}", hosts[0]),
    })
}

/// `host` with `:port` added unless it has one (`[v6]:port` included).
fn with_port(host: &str, port: u16) -> String {
    let has_port = match host.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_server_urls_are_used_as_given() {
        for url in [
            "redis://h:1/",
            "rediss://h/2",
            "redis+unix:///tmp/r.sock",
            "nonsense",
        ] {
            assert_eq!(topology(url).unwrap(), Topology::Single, "{url}");
        }
    }

    #[test]
    fn cluster_urls_become_one_url_per_node() {
        let t = topology("redis+cluster://u:p%40w@10.0.0.1:7001,10.0.0.2:7002/").unwrap();
        assert_eq!(
            t,
            Topology::Cluster(vec![
                "redis://u:p%40w@10.0.0.1:7001/".into(),
                "redis://u:p%40w@10.0.0.2:7002/".into(),
            ])
        );
        let t = topology("rediss+cluster://h1:1, h2:2").unwrap();
        assert_eq!(
            t,
            Topology::Cluster(vec!["rediss://h1:1/".into(), "rediss://h2:2/".into()])
        );
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_the_master_and_its_database() {
        let t = topology(
            "redis+sentinel://app:s3cret@s1,s2:5000,[::1]/mymaster/3\
             ?sentinel_username=sen&sentinel_password=tinel",
        )
        .unwrap();
        assert_eq!(
            t,
            Topology::Sentinel {
                sentinels: vec![
                    "redis://sen:tinel@s1:26379/".into(),
                    "redis://sen:tinel@s2:5000/".into(),
                    "redis://sen:tinel@[::1]:26379/".into(),
                ],
                master: "mymaster".into(),
                data: "redis://app:s3cret@s1/3".into(),
            }
        );
        let Topology::Sentinel {
            sentinels, data, ..
        } = topology("redis+sentinel://h:1/m").unwrap()
        else {
            panic!("not a sentinel topology");
        };
        assert_eq!(sentinels, ["redis://h:1/"]);
        assert_eq!(data, "redis://h:1/0");
    }

    #[test]
    fn debug_shows_no_password() {
        let t = topology(
            "redis+sentinel://app:hunter2@s1,s2/m?sentinel_username=u&sentinel_password=hunter3",
        )
        .unwrap();
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("s1:26379"), "{shown}");
        let t = topology("redis+cluster://u:hunter2@h1:1,h2:2/").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn malformed_multi_host_urls_are_config_errors_without_the_password() {
        for url in [
            "redis+cluster://u:hunter2@h1,,h2/",
            "redis+cluster://u:hunter2@h1/3",
            "redis+cluster://u:hunter2@h1/?pass=hunter2",
            "redis+sentinel://u:hunter2@h1/",
            "redis+sentinel://u:hunter2@h1/m/x",
            "redis+sentinel://u:hunter2@h1/m?password=hunter2",
            "redis+sentinel://u:hunter2@h1/m#hunter2",
            "rediss+sentinel://u:hunter2@h1/m",
        ] {
            let e = topology(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(!format!("{e:?} {e}").contains("hunter2"), "{url}: {e}");
        }
    }
}
