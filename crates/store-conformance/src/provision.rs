//! Finding a real server for a backend's tests.
//!
//! Order: an environment URL (`STORE_TEST_REDIS_URL`, `STORE_TEST_POSTGRES_URL`,
//! `STORE_TEST_MONGODB_URL`, `STORE_TEST_REDIS_CLUSTER_URLS`,
//! `STORE_TEST_REDIS_SENTINEL_URL`, `STORE_TEST_MYSQL_URL`), then a Docker
//! container when a Docker daemon answers within [`DOCKER_PROBE_TIMEOUT`],
//! then a skip with a printed reason. With `STORE_TEST_REQUIRE=1` a skip is a
//! test failure, so CI cannot silently test nothing.

use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The environment variable that turns skips into failures: `STORE_TEST_REQUIRE`.
pub const REQUIRE_ENV: &str = "STORE_TEST_REQUIRE";

/// How long the Docker daemon probe waits for an answer: 500 ms.
pub const DOCKER_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A server the suite can test against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// A single Redis server.
    Redis,
    /// A Redis Cluster (the URL variable holds comma-separated node URLs).
    RedisCluster,
    /// The master of a Redis Sentinel group (a `redis+sentinel://` URL
    /// naming the sentinels and the master).
    RedisSentinel,
    /// PostgreSQL.
    Postgres,
    /// MongoDB or a wire-compatible server.
    MongoDb,
    /// MySQL or MariaDB.
    MySql,
}

impl Service {
    /// The environment variable holding this service's URL.
    ///
    /// ```
    /// use store_conformance::provision::Service;
    /// assert_eq!(Service::Redis.env_var(), "STORE_TEST_REDIS_URL");
    /// ```
    pub const fn env_var(self) -> &'static str {
        match self {
            Self::Redis => "STORE_TEST_REDIS_URL",
            Self::RedisCluster => "STORE_TEST_REDIS_CLUSTER_URLS",
            Self::RedisSentinel => "STORE_TEST_REDIS_SENTINEL_URL",
            Self::Postgres => "STORE_TEST_POSTGRES_URL",
            Self::MongoDb => "STORE_TEST_MONGODB_URL",
            Self::MySql => "STORE_TEST_MYSQL_URL",
        }
    }

    /// Every service, in the order the test scripts start them.
    pub const ALL: [Service; 6] = [
        Self::Redis,
        Self::RedisCluster,
        Self::RedisSentinel,
        Self::Postgres,
        Self::MongoDb,
        Self::MySql,
    ];

    /// The service of that [`Service::name`] (`redis`, `redis-cluster`,
    /// `redis-sentinel`, `postgres`, `mongodb`, `mysql`), as the backend
    /// registry names them.
    ///
    /// ```
    /// use store_conformance::provision::Service;
    /// assert_eq!(Service::from_name("postgres"), Some(Service::Postgres));
    /// assert_eq!(Service::from_name("mysql"), Some(Service::MySql));
    /// assert_eq!(Service::from_name("cassandra"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::RedisCluster => "redis-cluster",
            Self::RedisSentinel => "redis-sentinel",
            Self::Postgres => "postgres",
            Self::MongoDb => "mongodb",
            Self::MySql => "mysql",
        }
    }
}

/// Whether `STORE_TEST_REQUIRE` is set to `1` or `true`.
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Skips a backend's test: prints `reason` and returns `None`, or panics
/// when [`required`] says skipping is forbidden.
///
/// # Panics
/// Under `STORE_TEST_REQUIRE=1`.
pub fn skip<T>(backend: &str, reason: &str) -> Option<T> {
    if required() {
        panic!("{backend}: {reason}; {REQUIRE_ENV}=1 forbids skipping");
    }
    eprintln!("skipping {backend} test: {reason}");
    None
}

/// The service's URL from its environment variable, if set and non-empty.
pub fn env_url(service: Service) -> Option<String> {
    std::env::var(service.env_var())
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Whether a Docker daemon answers a `GET /_ping` within
/// [`DOCKER_PROBE_TIMEOUT`], at `DOCKER_HOST` (`unix://` or `tcp://`) or at
/// `/var/run/docker.sock`.
pub async fn docker_available() -> bool {
    tokio::time::timeout(DOCKER_PROBE_TIMEOUT, ping_docker())
        .await
        .unwrap_or(false)
}

async fn ping_docker() -> bool {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let mut response = Vec::new();
    if let Some(addr) = host.strip_prefix("tcp://") {
        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
            return false;
        };
        if s.write_all(request).await.is_err() || s.read_to_end(&mut response).await.is_err() {
            return false;
        }
    } else {
        #[cfg(unix)]
        {
            let path = host
                .strip_prefix("unix://")
                .unwrap_or("/var/run/docker.sock");
            let Ok(mut s) = tokio::net::UnixStream::connect(path).await else {
                return false;
            };
            if s.write_all(request).await.is_err() || s.read_to_end(&mut response).await.is_err() {
                return false;
            }
        }
    }
    response.starts_with(b"HTTP/1.") && response.windows(3).any(|w| w == b" 20")
}

/// Where the URL of a service comes from: the environment, else a reason
/// why a container is needed. Backend crates pass the reason on to their
/// container start (with a Docker daemon) or to [`skip`].
///
/// ```
/// use store_conformance::provision::{locate, Located, Service};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// match locate(Service::Postgres).await {
///     Located::Url(url) => println!("testing against {}", url.len()),
///     Located::Docker => println!("start a container"),
///     Located::Nowhere(reason) => println!("skip: {reason}"),
/// }
/// # });
/// ```
pub async fn locate(service: Service) -> Located {
    if let Some(url) = env_url(service) {
        return Located::Url(url);
    }
    if docker_available().await {
        return Located::Docker;
    }
    Located::Nowhere(format!(
        "{} is not set and no Docker daemon answered within {} ms \
         (run the project's test script, which starts local servers)",
        service.env_var(),
        DOCKER_PROBE_TIMEOUT.as_millis()
    ))
}

/// The outcome of [`locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// The URL from the service's environment variable.
    Url(String),
    /// No URL, but a Docker daemon answers: start a container.
    Docker,
    /// Neither: the reason to print when skipping.
    Nowhere(String),
}

/// A service URL for a backend's tests: from the environment, else from a
/// container when a Docker daemon answers (with the `testcontainers`
/// feature), else [`skip`].
///
/// # Panics
/// Under `STORE_TEST_REQUIRE=1` when no server could be found or started.
///
/// ```no_run
/// use store_conformance::provision::{service_url, Service};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Without STORE_TEST_REDIS_URL and Docker this prints why and returns None.
/// if let Some(url) = service_url(Service::Redis).await {
///     assert!(!url.is_empty());
/// }
/// # });
/// ```
pub async fn service_url(service: Service) -> Option<String> {
    match locate(service).await {
        Located::Url(url) => Some(url),
        Located::Docker => match start_container(service).await {
            Ok(url) => Some(url),
            Err(e) => skip(service.name(), &format!("no test container: {e}")),
        },
        Located::Nowhere(reason) => skip(service.name(), &reason),
    }
}

/// A URL the test suites open a backend at, and the temporary directory
/// it points into (removed on drop).
#[derive(Debug)]
pub struct TestUrl {
    /// The URL, with `{service}` and `{dir}` resolved.
    pub url: String,
    /// Keeps `{dir}` alive for as long as the URL is used.
    pub dir: Option<TempDir>,
}

/// Resolves a backend registry's test URL (`store::BackendInfo::test_url`):
/// `{redis}`, `{postgres}`, … become that service's URL ([`service_url`]),
/// `{dir}` a fresh temporary directory; anything else stays.
///
/// `None` when a service is missing (after [`skip`], which panics under
/// `STORE_TEST_REQUIRE=1`).
///
/// # Panics
/// On an unknown `{service}` name or when no temporary directory can be
/// made.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use store_conformance::provision::test_url;
/// let at = test_url("sqlite://{dir}/store.db").await.unwrap();
/// assert!(at.url.starts_with("sqlite://") && at.dir.is_some());
/// assert_eq!(test_url("memory://").await.unwrap().url, "memory://");
/// # });
/// ```
pub async fn test_url(template: &str) -> Option<TestUrl> {
    let mut url = template.to_owned();
    let mut dir = None;
    while let Some(start) = url.find('{') {
        let end = start
            + url[start..]
                .find('}')
                .unwrap_or_else(|| panic!("unclosed '{{' in test URL {template:?}"));
        let name = &url[start + 1..end];
        let value = if name == "dir" {
            let made = tempfile::tempdir().expect("a temporary directory");
            let path = made.path().display().to_string();
            dir = Some(made);
            path
        } else {
            let service = Service::from_name(name)
                .unwrap_or_else(|| panic!("unknown service {{{name}}} in test URL {template:?}"));
            service_url(service).await?
        };
        url.replace_range(start..=end, &value);
    }
    Some(TestUrl { url, dir })
}

#[cfg(not(feature = "testcontainers"))]
async fn start_container(service: Service) -> Result<String, String> {
    Err(format!(
        "a Docker daemon answers, but store-conformance was built without its \
         `testcontainers` feature; set {} instead",
        service.env_var()
    ))
}

#[cfg(feature = "testcontainers")]
async fn start_container(service: Service) -> Result<String, String> {
    containers::url(service).await
}

/// Test containers from the official images, one per service and process.
///
/// Each container is started once per test process (the first test that
/// needs it waits for it) and is marked reusable: it stays up after the run
/// and later runs on the same machine reuse it instead of starting another.
/// Tests never collide in it because each uses its own random namespace.
/// Remove them with `docker rm -f` on the `redis`, `postgres`, `mongo` and `mariadb`
/// containers.
#[cfg(feature = "testcontainers")]
pub mod containers {
    use testcontainers_modules::mariadb::Mariadb;
    use testcontainers_modules::mongo::Mongo;
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::redis::{REDIS_PORT, Redis};
    use testcontainers_modules::testcontainers::core::ReuseDirective;
    use testcontainers_modules::testcontainers::core::{ContainerPort, IntoContainerPort};
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::{ContainerRequest, Image, ImageExt};
    use tokio::sync::OnceCell;

    use super::Service;

    /// The Redis image tag: 7.2 (`SET … PXAT` needs 6.2 or newer).
    pub const REDIS_TAG: &str = "7.2";
    /// The Postgres image tag.
    pub const POSTGRES_TAG: &str = "16-alpine";
    /// The MongoDB image tag.
    pub const MONGO_TAG: &str = "7.0";
    /// The MariaDB image tag (the `mysql` service).
    pub const MARIADB_TAG: &str = "10.11";

    type Started = Result<String, String>;

    static REDIS: OnceCell<Started> = OnceCell::const_new();
    static POSTGRES: OnceCell<Started> = OnceCell::const_new();
    static MONGO: OnceCell<Started> = OnceCell::const_new();
    static MARIADB: OnceCell<Started> = OnceCell::const_new();

    async fn start<I: Image>(
        request: ContainerRequest<I>,
        port: ContainerPort,
        url: impl FnOnce(String, u16) -> String,
    ) -> Started {
        let container = request.start().await.map_err(|e| e.to_string())?;
        let host = container.get_host().await.map_err(|e| e.to_string())?;
        let port = container
            .get_host_port_ipv4(port)
            .await
            .map_err(|e| e.to_string())?;
        let url = url(host.to_string(), port);
        // The container must outlive every test of this process (and is
        // marked reusable for later runs), so it is deliberately not dropped.
        std::mem::forget(container);
        Ok(url)
    }

    /// The URL of the service's test container, starting it on first use.
    ///
    /// # Errors
    /// The reason the container did not start, or that there is no
    /// container recipe for the service (Redis Cluster).
    pub async fn url(service: Service) -> Result<String, String> {
        match service {
            Service::Redis => REDIS
                .get_or_init(|| async {
                    let image = Redis::default()
                        .with_tag(REDIS_TAG)
                        .with_reuse(ReuseDirective::Always);
                    start(image, REDIS_PORT.tcp(), |h, p| format!("redis://{h}:{p}/")).await
                })
                .await
                .clone(),
            Service::Postgres => POSTGRES
                .get_or_init(|| async {
                    let image = Postgres::default()
                        .with_tag(POSTGRES_TAG)
                        .with_reuse(ReuseDirective::Always);
                    start(image, 5432.tcp(), |h, p| {
                        format!("postgres://postgres:postgres@{h}:{p}/postgres")
                    })
                    .await
                })
                .await
                .clone(),
            Service::MongoDb => MONGO
                .get_or_init(|| async {
                    let image = Mongo::default()
                        .with_tag(MONGO_TAG)
                        .with_reuse(ReuseDirective::Always);
                    start(image, 27017.tcp(), |h, p| format!("mongodb://{h}:{p}/")).await
                })
                .await
                .clone(),
            Service::MySql => MARIADB
                .get_or_init(|| async {
                    let image = Mariadb::default()
                        .with_tag(MARIADB_TAG)
                        .with_reuse(ReuseDirective::Always);
                    start(image, 3306.tcp(), |h, p| {
                        format!("mysql://root@{h}:{p}/test")
                    })
                    .await
                })
                .await
                .clone(),
            Service::RedisCluster | Service::RedisSentinel => Err(format!(
                "there is no container recipe for {}; set {}",
                service.name(),
                service.env_var()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_vars_are_the_documented_ones() {
        assert_eq!(Service::Postgres.env_var(), "STORE_TEST_POSTGRES_URL");
        assert_eq!(Service::MongoDb.env_var(), "STORE_TEST_MONGODB_URL");
        assert_eq!(
            Service::RedisCluster.env_var(),
            "STORE_TEST_REDIS_CLUSTER_URLS"
        );
    }
}
