//! Finding a real server for a backend's tests.
//!
//! Order: an environment URL (`STORE_TEST_REDIS_URL`, `STORE_TEST_POSTGRES_URL`,
//! `STORE_TEST_MONGODB_URL`, `STORE_TEST_REDIS_CLUSTER_URLS`,
//! `STORE_TEST_REDIS_SENTINEL_URL`, `STORE_TEST_MYSQL_URL`), then a Docker
//! container when a Docker daemon answers within [`DOCKER_PROBE_TIMEOUT`]
//! (see [`docker_daemon`] for where it is looked for), then a skip with a
//! printed reason. With `STORE_TEST_REQUIRE=1` a skip is a test failure, so
//! CI cannot silently test nothing.
//!
//! # Containers
//!
//! With the `testcontainers` feature, a service without a URL runs in a
//! container of the image its variable names ([`Service::image_env_var`]:
//! `STORE_TEST_REDIS_IMAGE`, `STORE_TEST_POSTGRES_IMAGE`,
//! `STORE_TEST_MONGODB_IMAGE`, `STORE_TEST_MYSQL_IMAGE`, each `NAME:TAG`),
//! else of the official image ([`Service::default_image`]). Whether a
//! missing image may be pulled is [`pull_policy`]'s decision
//! (`STORE_TEST_PULL`); the project's own images (`store-rs/…`) are never
//! pulled. Containers are reused across runs and found again by their
//! labels ([`container_labels`]) only, so each service and image has its own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The environment variable that turns skips into failures: `STORE_TEST_REQUIRE`.
pub const REQUIRE_ENV: &str = "STORE_TEST_REQUIRE";

/// How long the Docker daemon probe waits for an answer: 500 ms.
pub const DOCKER_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The environment variable that says whether a missing container image
/// may be pulled: `STORE_TEST_PULL` (`never` or `missing`; see [`pull_policy`]).
pub const PULL_ENV: &str = "STORE_TEST_PULL";

/// The label naming a test container's service ([`Service::name`]).
pub const SERVICE_LABEL: &str = "store-rs.service";

/// The label carrying a test container's [`RECIPE_VERSION`].
pub const RECIPE_LABEL: &str = "store-rs.recipe";

/// The label naming a test container's image (`NAME:TAG`).
pub const IMAGE_LABEL: &str = "store-rs.image";

/// The label carrying the ID (`sha256:…`) of a test container's image,
/// when the image was present before the start.
pub const IMAGE_ID_LABEL: &str = "store-rs.image-id";

/// The label marking a container a test owns for its duration (see
/// [`crate::container::ServerContainer`]): never reused, removed when the
/// test ends.
pub const OWNED_LABEL: &str = "store-rs.owned";

/// The label distinguishing reusable containers of one service that differ
/// in more than the image, such as the host ports of a Redis group.
pub const REUSE_KEY_LABEL: &str = "store-rs.reuse-key";

/// The host port of the first server of the Redis Cluster container the
/// matrix uses (3 masters on 31001–31003).
pub const CLUSTER_BASE_PORT: u16 = 31001;

/// The host port of the first server of the Redis Sentinel container the
/// matrix uses (master 31101, replica 31102, sentinels 31103–31105).
pub const SENTINEL_BASE_PORT: u16 = 31101;

/// The version of the container recipes (environment, command, ports and
/// the URL built from them). Bump it whenever a recipe changes, so that no
/// container started from an older recipe is reused.
pub const RECIPE_VERSION: u32 = 3;

/// The name prefix of the project's own images, which no registry holds.
pub const LOCAL_IMAGE_PREFIX: &str = "store-rs/";

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

    /// The environment variable naming this service's container image
    /// (`NAME:TAG`), for the services that have a container recipe.
    ///
    /// ```
    /// use store_conformance::provision::Service;
    /// assert_eq!(Service::MySql.image_env_var(), Some("STORE_TEST_MYSQL_IMAGE"));
    /// assert_eq!(Service::RedisCluster.image_env_var(), None);
    /// ```
    pub const fn image_env_var(self) -> Option<&'static str> {
        match self {
            Self::Redis => Some("STORE_TEST_REDIS_IMAGE"),
            Self::Postgres => Some("STORE_TEST_POSTGRES_IMAGE"),
            Self::MongoDb => Some("STORE_TEST_MONGODB_IMAGE"),
            Self::MySql => Some("STORE_TEST_MYSQL_IMAGE"),
            Self::RedisCluster | Self::RedisSentinel => None,
        }
    }

    /// The official image a container of this service runs when
    /// [`Service::image_env_var`] names none: `redis:7.2` (`SET … PXAT`
    /// needs 6.2 or newer), `postgres:16-alpine`, `mongo:7.0`,
    /// `mariadb:10.11` (the `mysql` service).
    pub const fn default_image(self) -> Option<&'static str> {
        match self {
            Self::Redis => Some("redis:7.2"),
            Self::Postgres => Some("postgres:16-alpine"),
            Self::MongoDb => Some("mongo:7.0"),
            Self::MySql => Some("mariadb:10.11"),
            Self::RedisCluster | Self::RedisSentinel => None,
        }
    }

    /// The project's own image for this service, built from Debian packages
    /// by `scripts/images.sh`: `store-rs/redis:7`, `store-rs/postgres:15`,
    /// `store-rs/mongodb:secantus`, `store-rs/mariadb:10.11`.
    pub const fn local_image(self) -> Option<&'static str> {
        match self {
            Self::Redis => Some("store-rs/redis:7"),
            Self::Postgres => Some("store-rs/postgres:15"),
            Self::MongoDb => Some("store-rs/mongodb:secantus"),
            Self::MySql => Some("store-rs/mariadb:10.11"),
            Self::RedisCluster | Self::RedisSentinel => None,
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
    non_empty_env(service.env_var())
}

fn non_empty_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

// ---------------------------------------------------------------------------
// Container images and the pull decision

/// A container image: a name (with an optional registry and path) and a
/// tag, as the `STORE_TEST_*_IMAGE` variables give it (`NAME:TAG`).
///
/// ```
/// use store_conformance::provision::ContainerImage;
/// let image = ContainerImage::parse("store-rs/postgres:15").unwrap();
/// assert_eq!((image.name(), image.tag()), ("store-rs/postgres", "15"));
/// assert!(image.is_local());
/// assert!(ContainerImage::parse("postgres").is_err()); // no tag
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerImage {
    name: String,
    tag: String,
}

impl ContainerImage {
    /// Parses `NAME:TAG`. The name is lower-case (`a-z`, `0-9`, `.`, `_`,
    /// `-`, `/`; a registry host may carry a `:port`), the tag is 1 to 128
    /// of `A-Z a-z 0-9 _ . -` and does not start with `.` or `-`. Digests
    /// (`@sha256:…`) are not accepted.
    ///
    /// # Errors
    /// Why `value` is not such a reference.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("the image is empty".into());
        }
        if value.contains('@') {
            return Err("digests are not accepted, only NAME:TAG".into());
        }
        let (name, tag) = match value.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => return Err("there is no tag".into()),
        };
        if name.is_empty() {
            return Err("the name is empty".into());
        }
        if tag.is_empty() {
            return Err("the tag is empty".into());
        }
        if tag.len() > 128
            || tag.starts_with(['.', '-'])
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!(
                "the tag {tag:?} is not 1 to 128 of A-Z a-z 0-9 _ . - (not starting with . or -)"
            ));
        }
        for (i, part) in name.split('/').enumerate() {
            let registry = i == 0 && name.contains('/');
            let valid = !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, '.' | '_' | '-')
                        || (registry && c == ':')
                });
            if !valid {
                return Err(format!(
                    "the name {name:?} is not lower-case components (a-z 0-9 . _ -) separated by /"
                ));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// The name, without the tag.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Whether this is one of the project's own images (`store-rs/…`),
    /// which exist only where they were built and are never pulled.
    pub fn is_local(&self) -> bool {
        self.name.starts_with(LOCAL_IMAGE_PREFIX)
    }
}

impl fmt::Display for ContainerImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// The image of `service`'s container: [`Service::image_env_var`] if set
/// and non-empty, else [`Service::default_image`]. `Ok(None)` for a service
/// without a container recipe.
///
/// # Errors
/// The variable is set to something that is not `NAME:TAG`; the message
/// names the variable.
pub fn container_image(service: Service) -> Result<Option<ContainerImage>, String> {
    let Some(var) = service.image_env_var() else {
        return Ok(None);
    };
    image_from(service, non_empty_env(var).as_deref()).map(Some)
}

/// [`container_image`] for the value `set` of the service's variable.
fn image_from(service: Service, set: Option<&str>) -> Result<ContainerImage, String> {
    let var = service.image_env_var().unwrap_or("the image variable");
    match set.filter(|v| !v.trim().is_empty()) {
        Some(value) => ContainerImage::parse(value).map_err(|reason| {
            format!(
                "{var}={value:?} is not an image NAME:TAG ({reason}), \
                 e.g. {} or {}",
                service.local_image().unwrap_or("store-rs/NAME:TAG"),
                service.default_image().unwrap_or("NAME:TAG"),
            )
        }),
        None => {
            let default = service
                .default_image()
                .ok_or_else(|| format!("there is no container image for {}", service.name()))?;
            ContainerImage::parse(default)
        }
    }
}

/// Whether a missing container image may be pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pull {
    /// Pull it (testcontainers' own behaviour): the default for images
    /// other than the project's own, or `STORE_TEST_PULL=missing`.
    IfMissing,
    /// Never: `STORE_TEST_PULL=never`. A missing image is an error.
    Never,
    /// Never: the image is one of the project's own ([`ContainerImage::is_local`]),
    /// which no registry holds, whatever `STORE_TEST_PULL` says. A missing
    /// image is an error.
    NeverLocal,
}

/// The pull decision for `image` under the value `setting` of
/// `STORE_TEST_PULL` (`None` or empty when unset): `never` forbids pulls;
/// `missing` (the default) pulls a missing image, except one of the
/// project's own, which is never pulled.
///
/// ```
/// use store_conformance::provision::{pull_policy, ContainerImage, Pull};
/// let official = ContainerImage::parse("redis:7.2").unwrap();
/// let ours = ContainerImage::parse("store-rs/redis:7").unwrap();
/// assert_eq!(pull_policy(None, &official), Ok(Pull::IfMissing));
/// assert_eq!(pull_policy(Some("never"), &official), Ok(Pull::Never));
/// assert_eq!(pull_policy(Some("missing"), &ours), Ok(Pull::NeverLocal));
/// assert!(pull_policy(Some("always"), &official).is_err());
/// ```
///
/// # Errors
/// `setting` is neither `never` nor `missing`; the message names the variable.
pub fn pull_policy(setting: Option<&str>, image: &ContainerImage) -> Result<Pull, String> {
    let never = match setting.map(str::trim).unwrap_or_default() {
        "never" => true,
        "missing" | "" => false,
        other => {
            return Err(format!(
                "{PULL_ENV}={other:?} is not `never` or `missing` \
                 (`never`: a missing image is an error; `missing`: pull it)"
            ));
        }
    };
    Ok(if never {
        Pull::Never
    } else if image.is_local() {
        Pull::NeverLocal
    } else {
        Pull::IfMissing
    })
}

/// The error for `image` of `service` being absent when `pull` forbids
/// pulling it: which setting forbids it and what to set instead.
pub fn missing_image_message(service: Service, image: &ContainerImage, pull: Pull) -> String {
    let var = service.image_env_var().unwrap_or("the image variable");
    let why = match pull {
        Pull::NeverLocal => {
            format!("images named {LOCAL_IMAGE_PREFIX}… are never pulled (no registry holds them)")
        }
        Pull::Never | Pull::IfMissing => format!("{PULL_ENV}=never forbids pulling it"),
    };
    let fix = if image.is_local() {
        format!("build it with `bash scripts/images.sh` or set {var}")
    } else {
        format!(
            "load it (`docker load`), or build the project's images with \
             `bash scripts/images.sh` and set {var}={}",
            service.local_image().unwrap_or("store-rs/NAME:TAG")
        )
    };
    format!("image {image} is not present locally and {why}: {fix}")
}

/// The labels of `service`'s reusable container of `image`:
/// [`SERVICE_LABEL`] (the service's name), [`RECIPE_LABEL`]
/// ([`RECIPE_VERSION`]), [`IMAGE_LABEL`] (`NAME:TAG`) and, when known,
/// [`IMAGE_ID_LABEL`] (`image_id`, the ID the image has on the daemon).
///
/// A container is reused only when it carries every one of them with these
/// values, so services never share a container, a changed recipe never
/// picks up an old one, and switching the image, or rebuilding it under the
/// same tag, starts another.
///
/// ```
/// use store_conformance::provision::{container_labels, ContainerImage, Service};
/// let image = ContainerImage::parse("store-rs/postgres:15").unwrap();
/// let labels = container_labels(Service::Postgres, &image, Some("sha256:0a1b"));
/// assert_eq!(labels[0], ("store-rs.service", "postgres".to_owned()));
/// assert_eq!(labels[3], ("store-rs.image-id", "sha256:0a1b".to_owned()));
/// ```
pub fn container_labels(
    service: Service,
    image: &ContainerImage,
    image_id: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut labels = vec![
        (SERVICE_LABEL, service.name().to_owned()),
        (RECIPE_LABEL, RECIPE_VERSION.to_string()),
        (IMAGE_LABEL, image.to_string()),
    ];
    if let Some(id) = image_id {
        labels.push((IMAGE_ID_LABEL, id.to_owned()));
    }
    labels
}

// ---------------------------------------------------------------------------
// The Docker daemon probe

/// A Docker daemon's address and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerHost {
    address: String,
    source: &'static str,
}

impl DockerHost {
    fn new(address: impl Into<String>, source: &'static str) -> Self {
        Self {
            address: address.into(),
            source,
        }
    }

    /// The address: `unix:///path`, `tcp://host:port`, ….
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Where the address came from (`DOCKER_HOST`, a settings file, a
    /// well-known socket), for messages.
    pub fn source(&self) -> &'static str {
        self.source
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.address, self.source)
    }
}

/// testcontainers' own settings file, in the home directory.
const PROPERTIES_FILE: &str = ".testcontainers.properties";

/// What the choice of a Docker address depends on.
#[derive(Debug, Clone, Default)]
struct DockerSettings {
    /// `DOCKER_HOST`, as set (even empty).
    docker_host: Option<String>,
    /// The text of `~/.testcontainers.properties`.
    properties: Option<String>,
    home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR` when absolute.
    runtime_dir: Option<PathBuf>,
}

impl DockerSettings {
    fn from_env() -> Self {
        let home = std::env::home_dir();
        Self {
            docker_host: std::env::var("DOCKER_HOST").ok(),
            properties: home
                .as_ref()
                .and_then(|h| std::fs::read_to_string(h.join(PROPERTIES_FILE)).ok()),
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            home,
        }
    }

    fn property(&self, key: &str) -> Option<String> {
        self.properties.as_deref().and_then(|t| property(t, key))
    }

    /// The well-known sockets in the probe's order, with their sources.
    fn sockets(&self) -> Vec<(PathBuf, &'static str)> {
        let mut sockets = Vec::new();
        if let Some(run) = &self.runtime_dir {
            sockets.push((run.join("docker.sock"), "the rootless socket"));
        }
        sockets.push((PathBuf::from("/var/run/docker.sock"), "the system socket"));
        sockets.extend(self.desktop_sockets());
        sockets
    }

    /// Docker Desktop's sockets, which testcontainers also looks for.
    fn desktop_sockets(&self) -> Vec<(PathBuf, &'static str)> {
        let mut sockets = Vec::new();
        if let (Some(run), Some(_)) = (&self.runtime_dir, &self.home) {
            sockets.push((
                run.join(".docker/run/docker.sock"),
                "Docker Desktop's socket",
            ));
        }
        if let Some(home) = &self.home {
            sockets.push((
                home.join(".docker/run/docker.sock"),
                "Docker Desktop's socket",
            ));
            sockets.push((
                home.join(".docker/desktop/docker.sock"),
                "Docker Desktop's socket",
            ));
        }
        sockets
    }
}

/// The last value of `key` in a Java properties text (the format of
/// testcontainers' settings file): `key=value`, `key: value` or
/// `key value`; `#` and `!` start comments; a line ending in an odd number
/// of backslashes continues on the next; `\t`, `\n`, `\r`, `\f`, `\uXXXX`
/// and `\c` escapes.
fn property(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t', '\x0c']);
        if logical.is_empty() && (line.is_empty() || line.starts_with(['#', '!'])) {
            continue;
        }
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        let (k, v) = split_property(&logical);
        if k == key {
            found = Some(v);
        }
        logical.clear();
    }
    if !logical.is_empty() {
        let (k, v) = split_property(&logical);
        if k == key {
            found = Some(v);
        }
    }
    found
}

/// A logical properties line's key and value, unescaped.
fn split_property(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => unescape(&mut chars, &mut key),
            '=' | ':' | ' ' | '\t' | '\x0c' => {
                if matches!(c, ' ' | '\t' | '\x0c') {
                    while chars
                        .next_if(|c| matches!(c, ' ' | '\t' | '\x0c'))
                        .is_some()
                    {}
                    let _separator = chars.next_if(|c| matches!(c, '=' | ':'));
                }
                while chars
                    .next_if(|c| matches!(c, ' ' | '\t' | '\x0c'))
                    .is_some()
                {}
                break;
            }
            c => key.push(c),
        }
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            unescape(&mut chars, &mut value);
        } else {
            value.push(c);
        }
    }
    (key, value)
}

fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    match chars.next() {
        Some('t') => out.push('\t'),
        Some('n') => out.push('\n'),
        Some('r') => out.push('\r'),
        Some('f') => out.push('\x0c'),
        Some('u') => {
            let hex: String = chars.by_ref().take(4).collect();
            if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                out.push(c);
            }
        }
        Some(c) => out.push(c),
        None => {}
    }
}

/// The addresses the probe tries, in order. An explicit setting is the
/// only candidate: `tc.host` in `~/.testcontainers.properties` (which
/// testcontainers ranks first), else `DOCKER_HOST`, else `docker.host` in
/// that file. Otherwise each well-known socket that exists: the rootless
/// `$XDG_RUNTIME_DIR/docker.sock`, `/var/run/docker.sock`, then Docker
/// Desktop's (`$XDG_RUNTIME_DIR/.docker/run/docker.sock`,
/// `~/.docker/run/docker.sock`, `~/.docker/desktop/docker.sock`).
fn docker_hosts(settings: &DockerSettings, exists: &dyn Fn(&Path) -> bool) -> Vec<DockerHost> {
    let explicit = [
        (
            settings.property("tc.host"),
            "tc.host in ~/.testcontainers.properties",
        ),
        (settings.docker_host.clone(), "DOCKER_HOST"),
        (
            settings.property("docker.host"),
            "docker.host in ~/.testcontainers.properties",
        ),
    ];
    for (value, source) in explicit {
        if let Some(address) = value.filter(|v| !v.trim().is_empty()) {
            return vec![DockerHost::new(address.trim(), source)];
        }
    }
    settings
        .sockets()
        .into_iter()
        .filter(|(path, _)| exists(path))
        .map(|(path, source)| DockerHost::new(format!("unix://{}", path.display()), source))
        .collect()
}

/// The address testcontainers 0.27 connects to for the same settings (its
/// `Config::docker_host`, with its `properties-config` feature): `tc.host`,
/// else `DOCKER_HOST`, else `docker.host`, else the first existing of
/// `/var/run/docker.sock` and Docker Desktop's sockets, else
/// `unix:///var/run/docker.sock`. It knows no rootless socket.
#[cfg(any(test, feature = "testcontainers"))]
fn testcontainers_docker_host(settings: &DockerSettings, exists: &dyn Fn(&Path) -> bool) -> String {
    if let Some(host) = settings
        .property("tc.host")
        .or_else(|| settings.docker_host.clone())
        .or_else(|| settings.property("docker.host"))
    {
        return host;
    }
    std::iter::once(PathBuf::from("/var/run/docker.sock"))
        .chain(settings.desktop_sockets().into_iter().map(|(p, _)| p))
        .find(|p| exists(p))
        .map_or_else(
            || "unix:///var/run/docker.sock".to_owned(),
            |p| format!("unix://{}", p.display()),
        )
}

/// The Docker daemon that answers a `GET /_ping` within
/// [`DOCKER_PROBE_TIMEOUT`], trying in order: `tc.host` in
/// `~/.testcontainers.properties`, `DOCKER_HOST` (`unix://`, `tcp://` or
/// `http://`), `docker.host` in that file (the first of these that is set
/// is the only one tried), else the existing sockets among the rootless
/// `$XDG_RUNTIME_DIR/docker.sock`, `/var/run/docker.sock` and Docker
/// Desktop's.
///
/// # Errors
/// Why none answered, naming the addresses tried.
pub async fn docker_daemon() -> Result<DockerHost, String> {
    let hosts = docker_hosts(&DockerSettings::from_env(), &|p: &Path| p.exists());
    if hosts.is_empty() {
        return Err("no Docker socket exists (DOCKER_HOST is not set, \
             ~/.testcontainers.properties names no docker.host, and neither \
             $XDG_RUNTIME_DIR/docker.sock nor /var/run/docker.sock exists)"
            .into());
    }
    let tried = hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let answered = tokio::time::timeout(DOCKER_PROBE_TIMEOUT, async {
        for host in hosts {
            if ping_docker(host.address()).await {
                return Some(host);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    answered.ok_or_else(|| {
        format!(
            "no Docker daemon answered within {} ms at {tried}",
            DOCKER_PROBE_TIMEOUT.as_millis()
        )
    })
}

/// Whether a Docker daemon answers (see [`docker_daemon`]).
pub async fn docker_available() -> bool {
    docker_daemon().await.is_ok()
}

async fn ping_docker(address: &str) -> bool {
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let mut response = Vec::new();
    if let Some(addr) = address
        .strip_prefix("tcp://")
        .or_else(|| address.strip_prefix("http://"))
    {
        let addr = addr.trim_end_matches('/');
        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
            return false;
        };
        if s.write_all(request).await.is_err() || s.read_to_end(&mut response).await.is_err() {
            return false;
        }
    } else if let Some(path) = address.strip_prefix("unix://") {
        #[cfg(unix)]
        {
            let Ok(mut s) = tokio::net::UnixStream::connect(path).await else {
                return false;
            };
            if s.write_all(request).await.is_err() || s.read_to_end(&mut response).await.is_err() {
                return false;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            return false;
        }
    } else {
        // `https://`, `npipe://`, `ssh://`: not probed.
        return false;
    }
    // The status line: `HTTP/1.x 2xx …`.
    response.starts_with(b"HTTP/1.")
        && response
            .split(|b| *b == b' ')
            .nth(1)
            .is_some_and(|code| code.len() == 3 && code[0] == b'2')
}

// ---------------------------------------------------------------------------
// Finding a service

/// Where the URL of a service comes from: the environment, else a reason
/// why a container is needed. Backend crates pass the reason on to their
/// container start (with a Docker daemon) or to [`skip`].
///
/// ```
/// use store_conformance::provision::{locate, Located, Service};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// match locate(Service::Postgres).await {
///     Located::Url(url) => println!("testing against {}", url.len()),
///     Located::Docker(host) => println!("start a container at {host}"),
///     Located::Nowhere(reason) => println!("skip: {reason}"),
/// }
/// # });
/// ```
pub async fn locate(service: Service) -> Located {
    if let Some(url) = env_url(service) {
        return Located::Url(url);
    }
    match docker_daemon().await {
        Ok(host) => Located::Docker(host),
        Err(why) => Located::Nowhere(format!(
            "{} is not set and {why} \
             (run the project's test script, which starts local servers)",
            service.env_var(),
        )),
    }
}

/// The outcome of [`locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// The URL from the service's environment variable.
    Url(String),
    /// No URL, but a Docker daemon answers there: start a container.
    Docker(DockerHost),
    /// Neither: the reason to print when skipping.
    Nowhere(String),
}

/// A service URL for a backend's tests: from the environment, else from a
/// container when a Docker daemon answers (with the `testcontainers`
/// feature), else [`skip`].
///
/// # Panics
/// Under `STORE_TEST_REQUIRE=1` when no server could be found or started;
/// always when a container is needed and `STORE_TEST_*_IMAGE` or
/// `STORE_TEST_PULL` holds a value that means nothing.
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
    if let Some(url) = env_url(service) {
        return Some(url);
    }
    #[cfg(feature = "testcontainers")]
    if let Some(started) = containers::started(service) {
        return match started {
            Ok(url) => Some(url),
            Err(e) => skip(service.name(), &format!("no test container: {e}")),
        };
    }
    match locate(service).await {
        Located::Url(url) => Some(url),
        Located::Docker(host) => match start_container(service, &host).await {
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
async fn start_container(service: Service, host: &DockerHost) -> Result<String, String> {
    Err(format!(
        "a Docker daemon answers at {host}, but store-conformance was built without \
         its `testcontainers` feature; set {} instead",
        service.env_var()
    ))
}

#[cfg(feature = "testcontainers")]
async fn start_container(service: Service, host: &DockerHost) -> Result<String, String> {
    // testcontainers finds its daemon on its own; it must be the one that answered.
    let settings = DockerSettings::from_env();
    let theirs = testcontainers_docker_host(&settings, &|p: &Path| p.exists());
    if theirs != host.address() {
        return Err(format!(
            "a Docker daemon answers at {host}, but testcontainers would connect to \
             {theirs}: export DOCKER_HOST={}",
            host.address()
        ));
    }
    // A value that means nothing is a mistake to fix, not a reason to skip.
    if let Err(e) = containers::Recipe::from_env(service) {
        panic!("{}: {e}", service.name());
    }
    containers::url(service).await
}

/// Test containers, one per service and process.
///
/// Each container is started once per test process (the first test that
/// needs it waits for it) and is marked reusable: it stays up after the run
/// and later runs on the same machine reuse it instead of starting another.
/// Tests never collide in it because each uses its own random namespace.
///
/// # Reuse
///
/// testcontainers 0.27 finds a reusable container by listing all
/// containers (running or stopped) whose labels include every label of the
/// request, `org.testcontainers.managed-by=testcontainers` among them, and
/// takes the newest; it compares neither image, environment nor ports. So
/// each container carries [`container_labels`]:
/// its service, [`RECIPE_VERSION`], its image and that image's ID. No
/// container name is set: Docker's name filter matches substrings, and a
/// fixed name would make a changed recipe fail with a name conflict.
///
/// A reused container that had stopped is started again without waiting
/// for its server, so a stopped container with these labels is removed
/// first and a fresh one started instead.
///
/// Remove them with
/// `docker rm -f $(docker ps -aq --filter label=store-rs.service)`.
#[cfg(feature = "testcontainers")]
pub mod containers {
    use std::collections::HashMap;

    use testcontainers_modules::mariadb::Mariadb;
    use testcontainers_modules::mongo::Mongo;
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::redis::{REDIS_PORT, Redis};
    use testcontainers_modules::testcontainers::bollard::Docker;
    use testcontainers_modules::testcontainers::bollard::errors::Error as DockerError;
    use testcontainers_modules::testcontainers::bollard::query_parameters::{
        ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    };
    use testcontainers_modules::testcontainers::core::ReuseDirective;
    use testcontainers_modules::testcontainers::core::client::docker_client_instance;
    use testcontainers_modules::testcontainers::core::{ContainerPort, IntoContainerPort};
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::{ContainerRequest, Image, ImageExt};
    use tokio::sync::OnceCell;

    use super::{
        ContainerImage, PULL_ENV, Pull, Service, container_image, container_labels,
        missing_image_message, non_empty_env, pull_policy,
    };

    type Started = Result<String, String>;

    /// What a service's container is started from: its image and whether
    /// that image may be pulled.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Recipe {
        service: Service,
        image: ContainerImage,
        pull: Pull,
    }

    impl Recipe {
        /// The recipe from `STORE_TEST_*_IMAGE` and `STORE_TEST_PULL`;
        /// `None` for a service without one (Redis Cluster, Redis Sentinel).
        ///
        /// # Errors
        /// A variable holds a value that means nothing.
        pub fn from_env(service: Service) -> Result<Option<Self>, String> {
            let Some(image) = container_image(service)? else {
                return Ok(None);
            };
            let pull = pull_policy(non_empty_env(PULL_ENV).as_deref(), &image)?;
            Ok(Some(Self {
                service,
                image,
                pull,
            }))
        }

        /// The image.
        pub fn image(&self) -> &ContainerImage {
            &self.image
        }

        /// Whether the image may be pulled.
        pub fn pull(&self) -> Pull {
            self.pull
        }
    }

    fn cell(service: Service) -> Option<&'static OnceCell<Started>> {
        static REDIS: OnceCell<Started> = OnceCell::const_new();
        static POSTGRES: OnceCell<Started> = OnceCell::const_new();
        static MONGO: OnceCell<Started> = OnceCell::const_new();
        static MARIADB: OnceCell<Started> = OnceCell::const_new();
        static CLUSTER: OnceCell<Started> = OnceCell::const_new();
        static SENTINEL: OnceCell<Started> = OnceCell::const_new();
        Some(match service {
            Service::Redis => &REDIS,
            Service::Postgres => &POSTGRES,
            Service::MongoDb => &MONGO,
            Service::MySql => &MARIADB,
            Service::RedisCluster => &CLUSTER,
            Service::RedisSentinel => &SENTINEL,
        })
    }

    /// The outcome of this process's start of the service's container, if
    /// one was attempted.
    pub fn started(service: Service) -> Option<Result<String, String>> {
        cell(service)?.get().cloned()
    }

    /// The ID of the recipe's image on the daemon; `None` when it is
    /// missing and may be pulled.
    ///
    /// # Errors
    /// The image is missing and may not be pulled, or the daemon could not
    /// say.
    /// Checks that the recipe's image is there (or may be pulled) and
    /// returns its ID on the daemon (`None` when it will be pulled).
    ///
    /// # Errors
    /// The image is missing and may not be pulled, or no daemon answered.
    pub(crate) async fn prepare(recipe: &Recipe) -> Result<Option<String>, String> {
        let docker = docker_client_instance()
            .await
            .map_err(|e| format!("no Docker client: {e}"))?;
        image_id(&docker, recipe).await
    }

    async fn image_id(docker: &Docker, recipe: &Recipe) -> Result<Option<String>, String> {
        match docker.inspect_image(&recipe.image.to_string()).await {
            Ok(inspect) => Ok(inspect.id),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) if recipe.pull == Pull::IfMissing => Ok(None),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Err(missing_image_message(
                recipe.service,
                &recipe.image,
                recipe.pull,
            )),
            Err(e) => Err(format!("could not inspect image {}: {e}", recipe.image)),
        }
    }

    /// Removes the stopped containers that carry `labels`: testcontainers
    /// would start one again without waiting until its server is ready.
    pub(crate) async fn remove_stopped(labels: &[(&str, String)]) -> Result<(), String> {
        let docker = docker_client_instance()
            .await
            .map_err(|e| format!("no Docker client: {e}"))?;
        let filters = HashMap::from([
            (
                "label",
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            ),
            // Not `created`: another process may be starting that one.
            ("status", vec!["exited".to_owned(), "dead".to_owned()]),
        ]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let stopped = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| format!("could not list containers: {e}"))?;
        for id in stopped.into_iter().filter_map(|c| c.id) {
            let force = RemoveContainerOptionsBuilder::new().force(true).build();
            match docker.remove_container(&id, Some(force)).await {
                // Gone meanwhile: removed by another process.
                Ok(())
                | Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(format!("could not remove stopped container {id}: {e}")),
            }
        }
        Ok(())
    }

    async fn start<I: Image>(
        request: ContainerRequest<I>,
        recipe: &Recipe,
        port: ContainerPort,
        url: impl FnOnce(String, u16) -> String,
    ) -> Started {
        // testcontainers' own client: the daemon that will start the container.
        let docker = docker_client_instance()
            .await
            .map_err(|e| format!("no Docker client: {e}"))?;
        // Checked before testcontainers' start, which pulls a missing image.
        let id = image_id(&docker, recipe).await?;
        let labels = container_labels(recipe.service, &recipe.image, id.as_deref());
        remove_stopped(&labels).await?;
        let request = request
            .with_name(recipe.image.name())
            .with_tag(recipe.image.tag())
            .with_labels(labels)
            .with_reuse(ReuseDirective::Always);
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

    async fn start_recipe(recipe: Recipe) -> Started {
        let r = &recipe;
        match recipe.service {
            Service::Redis => {
                start(Redis::default().into(), r, REDIS_PORT.tcp(), |h, p| {
                    format!("redis://{h}:{p}/")
                })
                .await
            }
            Service::Postgres => {
                start(Postgres::default().into(), r, 5432.tcp(), |h, p| {
                    format!("postgres://postgres:postgres@{h}:{p}/postgres")
                })
                .await
            }
            Service::MongoDb => {
                start(Mongo::default().into(), r, 27017.tcp(), |h, p| {
                    format!("mongodb://{h}:{p}/")
                })
                .await
            }
            Service::MySql => {
                start(Mariadb::default().into(), r, 3306.tcp(), |h, p| {
                    format!("mysql://root@{h}:{p}/test")
                })
                .await
            }
            Service::RedisCluster | Service::RedisSentinel => unreachable!("a Redis group"),
        }
    }

    /// A Redis Cluster or Sentinel group for the matrix rows: reusable, on
    /// fixed host ports ([`CLUSTER_BASE_PORT`](super::CLUSTER_BASE_PORT),
    /// [`SENTINEL_BASE_PORT`](super::SENTINEL_BASE_PORT)).
    async fn start_group(service: Service) -> Started {
        let base = match service {
            Service::RedisCluster => super::CLUSTER_BASE_PORT,
            _ => super::SENTINEL_BASE_PORT,
        };
        let group = crate::container::redis_group_reusable(service, base).await?;
        let url = group
            .var(service.env_var())
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "the {} container exported no {}",
                    service.name(),
                    service.env_var()
                )
            });
        // Left running for the later tests of this process and later runs.
        std::mem::forget(group);
        url
    }

    /// The URL of the service's test container, starting it on first use
    /// (or reusing the one a previous run left with the same labels).
    ///
    /// # Errors
    /// The reason the container did not start (a missing image that may
    /// not be pulled among them), a setting that means nothing, or that
    /// there is no container recipe for the service (Redis Cluster, Redis
    /// Sentinel).
    pub async fn url(service: Service) -> Result<String, String> {
        let no_recipe = || {
            format!(
                "there is no container recipe for {}; set {}",
                service.name(),
                service.env_var()
            )
        };
        let cell = cell(service).ok_or_else(no_recipe)?;
        if matches!(service, Service::RedisCluster | Service::RedisSentinel) {
            // Checked here so a bad value is an error, as for the others.
            Recipe::from_env(Service::Redis)?.ok_or_else(no_recipe)?;
            return cell.get_or_init(|| start_group(service)).await.clone();
        }
        let recipe = Recipe::from_env(service)?.ok_or_else(no_recipe)?;
        cell.get_or_init(|| start_recipe(recipe)).await.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn env_vars_are_the_documented_ones() {
        assert_eq!(Service::Postgres.env_var(), "STORE_TEST_POSTGRES_URL");
        assert_eq!(Service::MongoDb.env_var(), "STORE_TEST_MONGODB_URL");
        assert_eq!(
            Service::RedisCluster.env_var(),
            "STORE_TEST_REDIS_CLUSTER_URLS"
        );
        assert_eq!(
            Service::MongoDb.image_env_var(),
            Some("STORE_TEST_MONGODB_IMAGE")
        );
        assert_eq!(
            Service::Postgres.image_env_var(),
            Some("STORE_TEST_POSTGRES_IMAGE")
        );
    }

    fn image(s: &str) -> ContainerImage {
        ContainerImage::parse(s).unwrap()
    }

    #[test]
    fn labels_name_the_service_the_recipe_and_the_image() {
        let cases = [
            (Service::Redis, "store-rs/redis:7", "redis"),
            (Service::Postgres, "store-rs/postgres:15", "postgres"),
            (Service::MongoDb, "store-rs/mongodb:secantus", "mongodb"),
            (Service::MySql, "store-rs/mariadb:10.11", "mysql"),
        ];
        for (service, name, label) in cases {
            assert_eq!(
                container_labels(service, &image(name), Some("sha256:42")),
                [
                    ("store-rs.service", label.to_owned()),
                    ("store-rs.recipe", "3".to_owned()),
                    ("store-rs.image", name.to_owned()),
                    ("store-rs.image-id", "sha256:42".to_owned()),
                ],
                "{service:?}"
            );
            assert_eq!(container_labels(service, &image(name), None).len(), 3);
        }
        // No two services, and no two images of one service, share a label set.
        let mut seen = HashSet::new();
        for service in Service::ALL {
            for name in [service.default_image(), service.local_image()]
                .into_iter()
                .flatten()
            {
                assert!(seen.insert(container_labels(service, &image(name), None)));
            }
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn default_and_local_images_parse() {
        for service in Service::ALL {
            let has_recipe = service.image_env_var().is_some();
            assert_eq!(service.default_image().is_some(), has_recipe);
            assert_eq!(service.local_image().is_some(), has_recipe);
            if let Some(default) = service.default_image() {
                assert!(!image(default).is_local(), "{default}");
                assert_eq!(image(default).to_string(), default);
            }
            if let Some(local) = service.local_image() {
                assert!(image(local).is_local(), "{local}");
            }
        }
        assert_eq!(
            image_from(Service::Redis, None).unwrap().to_string(),
            "redis:7.2"
        );
        assert_eq!(
            image_from(Service::MySql, Some("  ")).unwrap().to_string(),
            "mariadb:10.11"
        );
    }

    #[test]
    fn image_values_parse_or_explain() {
        for (value, name, tag) in [
            ("store-rs/redis:7", "store-rs/redis", "7"),
            ("postgres:16-alpine", "postgres", "16-alpine"),
            (" mongo:7.0 ", "mongo", "7.0"),
            (
                "localhost:5000/store-rs/mariadb:10.11",
                "localhost:5000/store-rs/mariadb",
                "10.11",
            ),
            (
                "ghcr.io/org/img_x:v1.2_RC-3",
                "ghcr.io/org/img_x",
                "v1.2_RC-3",
            ),
        ] {
            let parsed = image(value);
            assert_eq!((parsed.name(), parsed.tag()), (name, tag), "{value}");
        }
        for (value, reason) in [
            ("redis", "no tag"),
            ("localhost:5000/redis", "no tag"),
            ("redis:", "tag is empty"),
            (":7", "name is empty"),
            ("Redis:7", "lower-case"),
            ("store rs/redis:7", "lower-case"),
            ("store-rs//redis:7", "lower-case"),
            ("redis:7 2", "tag"),
            ("redis:-7", "tag"),
            ("redis@sha256:abcd", "digests"),
            ("redis:7@sha256:abcd", "digests"),
        ] {
            let e = ContainerImage::parse(value).unwrap_err();
            assert!(e.contains(reason), "{value}: {e}");
        }
        let e = image_from(Service::Postgres, Some("postgres")).unwrap_err();
        assert!(
            e.starts_with("STORE_TEST_POSTGRES_IMAGE=\"postgres\" is not an image NAME:TAG"),
            "{e}"
        );
        assert!(e.contains("store-rs/postgres:15"), "{e}");
    }

    #[test]
    fn pull_is_never_for_our_images_or_when_told() {
        let official = image("redis:7.2");
        let ours = image("store-rs/redis:7");
        let decide = |setting: Option<&str>, image: &ContainerImage| pull_policy(setting, image);
        assert_eq!(decide(None, &official), Ok(Pull::IfMissing));
        assert_eq!(decide(Some(""), &official), Ok(Pull::IfMissing));
        assert_eq!(decide(Some("missing"), &official), Ok(Pull::IfMissing));
        assert_eq!(decide(Some("never"), &official), Ok(Pull::Never));
        assert_eq!(decide(Some(" never "), &official), Ok(Pull::Never));
        assert_eq!(decide(None, &ours), Ok(Pull::NeverLocal));
        assert_eq!(decide(Some("missing"), &ours), Ok(Pull::NeverLocal));
        assert_eq!(decide(Some("never"), &ours), Ok(Pull::Never));
        for bad in ["always", "Never", "no", "0"] {
            let e = decide(Some(bad), &official).unwrap_err();
            assert!(e.starts_with("STORE_TEST_PULL="), "{e}");
            assert!(e.contains("`never` or `missing`"), "{e}");
        }
    }

    #[test]
    fn a_missing_image_names_the_variable_to_set() {
        let ours = image("store-rs/redis:7");
        assert_eq!(
            missing_image_message(Service::Redis, &ours, Pull::Never),
            "image store-rs/redis:7 is not present locally and STORE_TEST_PULL=never \
             forbids pulling it: build it with `bash scripts/images.sh` or set \
             STORE_TEST_REDIS_IMAGE"
        );
        let e = missing_image_message(Service::Redis, &ours, Pull::NeverLocal);
        assert!(e.contains("never pulled"), "{e}");
        let e = missing_image_message(Service::MongoDb, &image("mongo:7.0"), Pull::Never);
        assert!(
            e.contains("STORE_TEST_MONGODB_IMAGE=store-rs/mongodb:secantus"),
            "{e}"
        );
    }

    fn settings() -> DockerSettings {
        DockerSettings {
            docker_host: None,
            properties: None,
            home: Some("/home/u".into()),
            runtime_dir: Some("/run/user/1000".into()),
        }
    }

    fn addresses(s: &DockerSettings, existing: &[&str]) -> Vec<String> {
        docker_hosts(s, &|p: &Path| existing.iter().any(|e| Path::new(e) == p))
            .into_iter()
            .map(|h| h.address)
            .collect()
    }

    const ROOTLESS: &str = "/run/user/1000/docker.sock";
    const SYSTEM: &str = "/var/run/docker.sock";
    const DESKTOP: &str = "/home/u/.docker/run/docker.sock";

    #[test]
    fn the_probe_tries_sockets_rootless_first() {
        let all = [ROOTLESS, SYSTEM, DESKTOP];
        assert_eq!(
            addresses(&settings(), &all),
            [
                "unix:///run/user/1000/docker.sock",
                "unix:///var/run/docker.sock",
                "unix:///home/u/.docker/run/docker.sock"
            ]
        );
        assert_eq!(
            addresses(&settings(), &[SYSTEM]),
            ["unix:///var/run/docker.sock"]
        );
        assert!(addresses(&settings(), &[]).is_empty());
        // Without XDG_RUNTIME_DIR there is no rootless candidate.
        let no_runtime = DockerSettings {
            runtime_dir: None,
            ..settings()
        };
        assert_eq!(
            addresses(&no_runtime, &all),
            [
                "unix:///var/run/docker.sock",
                "unix:///home/u/.docker/run/docker.sock"
            ]
        );
    }

    #[test]
    fn an_explicit_setting_is_the_only_candidate() {
        let all = [ROOTLESS, SYSTEM];
        let env = DockerSettings {
            docker_host: Some("tcp://10.0.0.1:2375".into()),
            ..settings()
        };
        assert_eq!(addresses(&env, &all), ["tcp://10.0.0.1:2375"]);
        let sources = docker_hosts(&env, &|_| true);
        assert_eq!(sources[0].source(), "DOCKER_HOST");

        // docker.host ranks below DOCKER_HOST, tc.host above it.
        let file = DockerSettings {
            properties: Some("# a comment\ndocker.host = unix:///srv/d.sock\n".into()),
            ..settings()
        };
        assert_eq!(addresses(&file, &all), ["unix:///srv/d.sock"]);
        let both = DockerSettings {
            docker_host: Some("unix:///from/env.sock".into()),
            ..file.clone()
        };
        assert_eq!(addresses(&both, &all), ["unix:///from/env.sock"]);
        let tc = DockerSettings {
            properties: Some("docker.host=unix:///a.sock\ntc.host:tcp://127.0.0.1:9\n".into()),
            ..both.clone()
        };
        assert_eq!(addresses(&tc, &all), ["tcp://127.0.0.1:9"]);

        // An empty DOCKER_HOST counts as unset for the probe.
        let empty = DockerSettings {
            docker_host: Some(String::new()),
            ..settings()
        };
        assert_eq!(
            addresses(&empty, &[SYSTEM]),
            ["unix:///var/run/docker.sock"]
        );
    }

    #[test]
    fn testcontainers_own_choice_is_mirrored() {
        let exists =
            |list: &'static [&'static str]| move |p: &Path| list.iter().any(|e| Path::new(e) == p);
        // It knows no rootless socket: it picks the system one, or its default.
        assert_eq!(
            testcontainers_docker_host(&settings(), &exists(&[ROOTLESS, SYSTEM])),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(
            testcontainers_docker_host(&settings(), &exists(&[ROOTLESS])),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(
            testcontainers_docker_host(&settings(), &exists(&[DESKTOP])),
            "unix:///home/u/.docker/run/docker.sock"
        );
        let env = DockerSettings {
            docker_host: Some("unix:///run/user/1000/docker.sock".into()),
            properties: Some("docker.host=tcp://x:1".into()),
            ..settings()
        };
        assert_eq!(
            testcontainers_docker_host(&env, &exists(&[SYSTEM])),
            "unix:///run/user/1000/docker.sock"
        );
        // So the probe and testcontainers agree whenever the probe's pick
        // is not the rootless socket.
        for s in [settings(), env] {
            let ours = addresses(&s, &[SYSTEM, DESKTOP]);
            assert_eq!(
                ours[0],
                testcontainers_docker_host(&s, &exists(&[SYSTEM, DESKTOP]))
            );
        }
    }

    #[test]
    fn properties_are_read_like_java_does() {
        let text = "! comment\n  # comment\n\
                    docker.host=unix:///one\n\
                    tc.host   tcp://h:1\n\
                    other : x\n\
                    docker.host = unix:///t\\\n    wo.sock\n\
                    esc\\:aped=a\\tb\\u0041\n";
        assert_eq!(
            property(text, "docker.host").as_deref(),
            Some("unix:///two.sock")
        );
        assert_eq!(property(text, "tc.host").as_deref(), Some("tcp://h:1"));
        assert_eq!(property(text, "other").as_deref(), Some("x"));
        assert_eq!(property(text, "esc:aped").as_deref(), Some("a\tbA"));
        assert_eq!(property(text, "missing"), None);
        assert_eq!(property("docker.host", "docker.host").as_deref(), Some(""));
    }

    #[tokio::test]
    async fn the_probe_reads_a_status_line() {
        use tokio::net::TcpListener;
        for (answer, expected) in [
            (&b"HTTP/1.1 200 OK\r\n\r\nOK"[..], true),
            (b"HTTP/1.0 404 Not Found\r\n\r\n", false),
            (b"SSH-2.0-OpenSSH\r\n", false),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0; 256];
                let _ = s.read(&mut buf).await;
                s.write_all(answer).await.unwrap();
            });
            assert_eq!(ping_docker(&format!("tcp://{addr}")).await, expected);
            server.await.unwrap();
        }
        assert!(!ping_docker("npipe:////./pipe/docker_engine").await);
    }
}
