//! Finding a real server for a backend's tests.
//!
//! Order: an environment URL (`STORE_TEST_REDIS_URL`, `STORE_TEST_POSTGRES_URL`,
//! `STORE_TEST_MONGODB_URL`, `STORE_TEST_REDIS_CLUSTER_URLS`), then a Docker
//! container when a Docker daemon answers within [`DOCKER_PROBE_TIMEOUT`],
//! then a skip with a printed reason. With `STORE_TEST_REQUIRE=1` a skip is a
//! test failure, so CI cannot silently test nothing.

use std::future::Future;
use std::time::Duration;

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
    /// PostgreSQL.
    Postgres,
    /// MongoDB or a wire-compatible server.
    MongoDb,
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
            Self::Postgres => "STORE_TEST_POSTGRES_URL",
            Self::MongoDb => "STORE_TEST_MONGODB_URL",
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::RedisCluster => "redis-cluster",
            Self::Postgres => "postgres",
            Self::MongoDb => "mongodb",
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

/// A service URL: from the environment, else from a container started by
/// `start_container` when Docker answers, else [`skip`].
///
/// # Panics
/// Under `STORE_TEST_REQUIRE=1` when no server could be found or started.
pub async fn url_or_skip<F, Fut>(service: Service, start_container: F) -> Option<String>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    match locate(service).await {
        Located::Url(url) => Some(url),
        Located::Docker => match start_container().await {
            Ok(url) => Some(url),
            Err(e) => skip(
                service.name(),
                &format!("the Docker container did not start: {e}"),
            ),
        },
        Located::Nowhere(reason) => skip(service.name(), &reason),
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
