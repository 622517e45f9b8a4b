//! Servers a test owns, in containers: for the tests that kill, restart or
//! reconfigure their server, and so cannot share the one every other test
//! uses.
//!
//! A test that owns a server runs it on the host when the binary is there
//! (native mode) and in a container of the service's image otherwise
//! ([`own_server_in_container`]): `STORE_TEST_MODE=containers` asks for
//! containers even where binaries exist, `STORE_TEST_MODE=native` never uses
//! them. The container is started from the image of
//! [`provision::container_image`](crate::provision::container_image) (the
//! project's `store-rs/…` images or the official ones, which take the same
//! arguments and variables) and never pulled when
//! [`STORE_TEST_PULL`](crate::provision::PULL_ENV) forbids it. Its ports are
//! published on fixed host ports, so a server killed and started again
//! ([`ServerContainer::kill`], [`ServerContainer::start_again`]) answers on
//! the same address; files (certificates, configuration) are copied in
//! before it starts.
//!
//! [`redis_group`] runs a Redis Cluster or a Redis Sentinel group: the
//! project's services script, inside one container of the Redis image,
//! with every server on the same port number inside as outside and
//! announcing `127.0.0.1`, so clients on this machine reach each node at the
//! address the cluster or the sentinels give.
//!
//! Everything here needs the `testcontainers` feature; without it each start
//! returns an error saying so.

use std::time::Duration;

use crate::provision::Service;

/// The variable choosing where servers run: `STORE_TEST_MODE`
/// (`native` or `containers`; the test command exports it).
pub const MODE_ENV: &str = "STORE_TEST_MODE";

/// The services script, run inside [`redis_group`] containers.
pub const SERVICES_SCRIPT: &str = include_str!("../scripts/services.sh");

/// Whether a test that owns a server should run it in a container:
/// `STORE_TEST_MODE=containers` says yes, `STORE_TEST_MODE=native` says no;
/// unset, yes when the host has no binary for it (`has_binary` false) and a
/// Docker daemon answers.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let has_redis = std::process::Command::new("redis-server").arg("--version").output().is_ok();
/// if store_conformance::container::own_server_in_container(has_redis).await {
///     // ServerContainer::start(...)
/// }
/// # });
/// ```
pub async fn own_server_in_container(has_binary: bool) -> bool {
    match std::env::var(MODE_ENV).as_deref() {
        Ok("containers") => true,
        Ok("native") => false,
        _ => !has_binary && crate::provision::docker_available().await,
    }
}

/// The host this process reaches containers' published ports at (what
/// [`ServerContainer::host`] returns): `127.0.0.1` with a local daemon, the
/// bridge's gateway when this process runs in a container itself, the
/// daemon's host with a remote one. A certificate must name it before its
/// server's container starts, and only a running container tells it, so the
/// first call starts a container of `service`'s image that runs nothing but
/// `sleep`, asks it and removes it; later calls answer from memory.
///
/// # Errors
/// That container could not start (see [`ServerContainer::start`]).
pub async fn host(service: Service) -> Result<String, String> {
    static HOST: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HOST.get_or_try_init(|| async {
        let probe = ServerSpec::new(service)
            .entrypoint("sh")
            .args(["-c", "echo store-rs-probe-ready && exec sleep 600"])
            .ready_on_stdout("store-rs-probe-ready")
            .startup_timeout(Duration::from_secs(60));
        let probe = ServerContainer::start(probe)
            .await
            .map_err(|e| format!("a container to learn the host name: {e}"))?;
        Ok(probe.host().to_owned())
    })
    .await
    .cloned()
}

/// What a [`ServerContainer`] runs.
///
/// ```
/// use store_conformance::container::ServerSpec;
/// use store_conformance::provision::Service;
/// let spec = ServerSpec::new(Service::Redis)
///     .arg("redis-server")
///     .arg("--requirepass")
///     .arg("s3cret")
///     .publish(6379)
///     .ready_on_stdout("Ready to accept connections");
/// assert_eq!(spec.service(), Service::Redis);
/// ```
#[derive(Debug, Clone)]
pub struct ServerSpec {
    service: Service,
    label: Service,
    reuse: Option<String>,
    entrypoint: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// (host port, container port); host port 0 picks a free one.
    ports: Vec<(u16, u16)>,
    files: Vec<(String, Vec<u8>, u32)>,
    ready: Vec<Ready>,
    startup_timeout: Duration,
}

#[derive(Debug, Clone)]
// Read only by the container start (feature `testcontainers`).
#[cfg_attr(not(feature = "testcontainers"), allow(dead_code))]
enum Ready {
    Stdout(String),
    Stderr(String),
}

impl ServerSpec {
    /// A container of `service`'s image ([`Service::image_env_var`]), with
    /// the image's own command unless [`ServerSpec::arg`] gives one.
    pub fn new(service: Service) -> Self {
        Self {
            service,
            label: service,
            reuse: None,
            entrypoint: None,
            args: Vec::new(),
            env: Vec::new(),
            ports: Vec::new(),
            files: Vec::new(),
            ready: Vec::new(),
            startup_timeout: Duration::from_secs(120),
        }
    }

    /// The service whose image runs.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Labels the container as `service`'s (`store-rs.service`) while
    /// running the image of [`ServerSpec::new`]'s service: a Redis Cluster
    /// runs in the Redis image.
    #[must_use]
    pub fn labelled_as(mut self, service: Service) -> Self {
        self.label = service;
        self
    }

    /// Makes the container reusable: it is left running when this process
    /// ends, and a later start of a spec with the same service, image,
    /// recipe version and `key` attaches to it instead of starting another.
    /// Its ports must be fixed ([`ServerSpec::publish_same`]) so that the
    /// address stays known.
    #[must_use]
    pub fn reusable(mut self, key: impl Into<String>) -> Self {
        self.reuse = Some(key.into());
        self
    }

    /// Replaces the image's entrypoint.
    #[must_use]
    pub fn entrypoint(mut self, entrypoint: impl Into<String>) -> Self {
        self.entrypoint = Some(entrypoint.into());
        self
    }

    /// Appends one argument to the command (passed to the entrypoint).
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments to the command.
    #[must_use]
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable in the container.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Publishes `container_port` on a free host port, the same one for
    /// the container's whole life (across [`ServerContainer::start_again`]).
    #[must_use]
    pub fn publish(mut self, container_port: u16) -> Self {
        self.ports.push((0, container_port));
        self
    }

    /// Publishes `port` on the same host port (for servers that announce
    /// their own address, as cluster nodes and sentinels do).
    #[must_use]
    pub fn publish_same(mut self, port: u16) -> Self {
        self.ports.push((port, port));
        self
    }

    /// Copies `contents` to `path` in the container before it starts, with
    /// file mode `mode` (for example `0o600` for a private key).
    #[must_use]
    pub fn file(
        mut self,
        path: impl Into<String>,
        contents: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Self {
        self.files.push((path.into(), contents.into(), mode));
        self
    }

    /// The server is ready once its standard output shows `message`.
    #[must_use]
    pub fn ready_on_stdout(mut self, message: impl Into<String>) -> Self {
        self.ready.push(Ready::Stdout(message.into()));
        self
    }

    /// The server is ready once its standard error shows `message`.
    #[must_use]
    pub fn ready_on_stderr(mut self, message: impl Into<String>) -> Self {
        self.ready.push(Ready::Stderr(message.into()));
        self
    }

    /// How long the start may take before it is an error (default 120 s).
    #[must_use]
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }
}

/// A free TCP port on this machine's loopback, as the OS hands them out.
///
/// # Errors
/// The OS gave none.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A server in a container this test owns; removed when dropped.
pub struct ServerContainer {
    #[cfg(feature = "testcontainers")]
    inner: testcontainers::ContainerAsync<testcontainers::GenericImage>,
    host: String,
    ports: Vec<(u16, u16)>,
    service: Service,
}

impl std::fmt::Debug for ServerContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContainer")
            .field("id", &self.id())
            .field("service", &self.service.name())
            .field("host", &self.host)
            .field("ports", &self.ports)
            .finish()
    }
}

#[cfg(not(feature = "testcontainers"))]
fn no_feature() -> String {
    "store-conformance was built without its `testcontainers` feature \
     (cargo test --all-features, or --features store-conformance/testcontainers)"
        .to_owned()
}

impl ServerContainer {
    /// Starts the container and waits until it is ready.
    ///
    /// # Errors
    /// No image for the service (or one that may not be pulled), no Docker
    /// daemon, a port already taken, or the server not ready in time: the
    /// message says which.
    pub async fn start(spec: ServerSpec) -> Result<Self, String> {
        #[cfg(feature = "testcontainers")]
        {
            imp::start(spec).await
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            let _ = spec;
            Err(no_feature())
        }
    }

    /// The container's ID (empty without the `testcontainers` feature).
    pub fn id(&self) -> &str {
        #[cfg(feature = "testcontainers")]
        {
            self.inner.id()
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            ""
        }
    }

    /// The host to connect to (`127.0.0.1` for a local daemon).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host port `container_port` is published on.
    ///
    /// # Panics
    /// `container_port` was not published by the spec.
    pub fn port(&self, container_port: u16) -> u16 {
        self.ports
            .iter()
            .find(|(_, c)| *c == container_port)
            .map(|(h, _)| *h)
            .unwrap_or_else(|| panic!("port {container_port} is not published"))
    }

    /// Kills the server at once (SIGKILL to every process of the
    /// container) and returns once the container has stopped; the
    /// container stays, to be started again. A container that has stopped
    /// already is left as it is.
    ///
    /// # Errors
    /// The daemon refused.
    pub async fn kill(&self) -> Result<(), String> {
        #[cfg(feature = "testcontainers")]
        {
            imp::kill(self.id()).await
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            Err(no_feature())
        }
    }

    /// Stops the server the polite way (SIGTERM, then SIGKILL after
    /// `grace`).
    ///
    /// # Errors
    /// The daemon refused.
    pub async fn stop(&self, grace: Duration) -> Result<(), String> {
        #[cfg(feature = "testcontainers")]
        {
            let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
            self.inner
                .stop_with_timeout(Some(secs))
                .await
                .map_err(|e| format!("could not stop container {}: {e}", self.id()))
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            let _ = grace;
            Err(no_feature())
        }
    }

    /// Starts the stopped or killed container again, on the same ports.
    /// It returns once the container runs, not once its server is ready:
    /// the caller waits for that (as a client would).
    ///
    /// # Errors
    /// The daemon refused.
    pub async fn start_again(&self) -> Result<(), String> {
        #[cfg(feature = "testcontainers")]
        {
            self.inner
                .start()
                .await
                .map_err(|e| format!("could not start container {} again: {e}", self.id()))
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            Err(no_feature())
        }
    }

    /// Runs `command` in the container and returns its standard output.
    ///
    /// # Errors
    /// The command could not run or exited with a non-zero code (the
    /// message has its standard error).
    pub async fn exec(&self, command: &[&str]) -> Result<String, String> {
        #[cfg(feature = "testcontainers")]
        {
            imp::exec(&self.inner, command).await
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            let _ = command;
            Err(no_feature())
        }
    }

    /// The container's standard output so far.
    ///
    /// # Errors
    /// The daemon refused.
    pub async fn stdout(&self) -> Result<String, String> {
        #[cfg(feature = "testcontainers")]
        {
            let out = self
                .inner
                .stdout_to_vec()
                .await
                .map_err(|e| format!("could not read the output of {}: {e}", self.id()))?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        #[cfg(not(feature = "testcontainers"))]
        {
            Err(no_feature())
        }
    }
}

/// A Redis Cluster or Redis Sentinel group in one container (see the
/// module documentation), and the variables the services script exported
/// for it (`STORE_TEST_REDIS_CLUSTER_URLS`, `STORE_TEST_REDIS_SENTINEL_URL`).
#[derive(Debug)]
pub struct RedisGroup {
    container: ServerContainer,
    vars: Vec<(String, String)>,
}

/// How many ports a group of `service` uses from its base port: a Cluster
/// 3 masters × (1 + `replicas`), a Sentinel group 5 (master, replica,
/// three sentinels).
///
/// ```
/// use store_conformance::container::group_ports;
/// use store_conformance::provision::Service;
/// assert_eq!(group_ports(Service::RedisCluster, 1), Some(6));
/// assert_eq!(group_ports(Service::RedisSentinel, 0), Some(5));
/// assert_eq!(group_ports(Service::Redis, 0), None);
/// ```
pub fn group_ports(service: Service, replicas: u16) -> Option<u16> {
    match service {
        Service::RedisCluster => Some(3 * (1 + replicas)),
        Service::RedisSentinel => Some(5),
        _ => None,
    }
}

/// Starts a Redis Cluster (`Service::RedisCluster`, with `replicas`
/// replicas per master) or Sentinel group (`Service::RedisSentinel`) in one
/// container of the Redis image, its servers on host ports `base..` (see
/// [`group_ports`]; ports at or above 32768 may collide with connections'
/// local ports).
///
/// # Errors
/// Not a group service, a port taken, no image, or the group did not form
/// in time (the message has the script's output).
pub async fn redis_group(service: Service, base: u16, replicas: u16) -> Result<RedisGroup, String> {
    group(service, base, replicas, false).await
}

/// [`redis_group`] without replicas in a reusable container (left running,
/// attached to by later runs): the matrix rows' servers.
#[cfg_attr(not(feature = "testcontainers"), allow(dead_code))]
pub(crate) async fn redis_group_reusable(
    service: Service,
    base: u16,
) -> Result<RedisGroup, String> {
    group(service, base, 0, true).await
}

async fn group(
    service: Service,
    base: u16,
    replicas: u16,
    reuse: bool,
) -> Result<RedisGroup, String> {
    let count = group_ports(service, replicas)
        .ok_or_else(|| format!("{} is not a Redis group", service.name()))?;
    let (port_var, what) = match service {
        Service::RedisCluster => ("STORE_REDIS_CLUSTER_PORT", "redis-cluster"),
        _ => ("STORE_REDIS_SENTINEL_PORT", "redis-sentinel"),
    };
    let mut spec = ServerSpec::new(Service::Redis)
        .entrypoint("bash")
        .args(["/store-rs/services.sh", what])
        .file(
            "/store-rs/services.sh",
            SERVICES_SCRIPT.as_bytes().to_vec(),
            0o755,
        )
        .env(port_var, base.to_string())
        .env("STORE_REDIS_CLUSTER_REPLICAS", replicas.to_string())
        // Reachable through the published ports, and announcing the
        // address the host reaches them at.
        .env("STORE_SERVICES_BIND", "0.0.0.0")
        .env("STORE_SERVICES_ANNOUNCE_IP", "127.0.0.1")
        .ready_on_stderr("# servers are running")
        .labelled_as(service);
    if reuse {
        spec = spec.reusable(format!("ports-{base}-{count}"));
    }
    for port in base..base + count {
        spec = spec.publish_same(port);
    }
    let container = ServerContainer::start(spec).await?;
    // The script prints its exports on stdout just before the ready line on
    // stderr, and the daemon copies the two streams independently: the
    // exports may reach the log a moment after the ready line.
    let wanted = match service {
        Service::RedisCluster => "STORE_TEST_REDIS_CLUSTER_URLS",
        _ => "STORE_TEST_REDIS_SENTINEL_URL",
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = container.stdout().await?;
        let vars = parse_exports(&out);
        if vars.iter().any(|(k, _)| k == wanted) {
            return Ok(RedisGroup { container, vars });
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("the {what} container printed no {wanted}: {out}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `NAME=VALUE` pairs from `export NAME=VALUE` lines (the services
/// script's output).
///
/// ```
/// use store_conformance::container::parse_exports;
/// let vars = parse_exports("export A=1\n# note\nexport B=x,y\n");
/// assert_eq!(vars, vec![("A".to_owned(), "1".to_owned()), ("B".to_owned(), "x,y".to_owned())]);
/// ```
pub fn parse_exports(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(['\'', '"']).to_owned()))
        .collect()
}

impl RedisGroup {
    /// A variable the services script exported, for example
    /// `STORE_TEST_REDIS_CLUSTER_URLS`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The container.
    pub fn container(&self) -> &ServerContainer {
        &self.container
    }

    /// Kills the server listening on `port` inside the group (SIGKILL to
    /// its process), as a crash would.
    ///
    /// # Errors
    /// No such server, or the kill failed.
    pub async fn kill_server(&self, port: u16) -> Result<(), String> {
        let pid = self
            .container
            .exec(&["redis-cli", "-p", &port.to_string(), "info", "server"])
            .await?
            .lines()
            .find_map(|l| l.trim().strip_prefix("process_id:").map(str::to_owned))
            .ok_or_else(|| format!("no server answered on port {port}"))?;
        // `kill` through the shell: images need not have a `kill` binary
        // (ours has only the shell's builtin).
        self.container
            .exec(&["sh", "-c", "kill -KILL \"$0\"", pid.trim()])
            .await?;
        Ok(())
    }
}

#[cfg(feature = "testcontainers")]
mod imp {
    use testcontainers::core::{ContainerPort, ExecCommand, ReuseDirective, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{ContainerAsync, CopyTargetOptions, GenericImage, ImageExt};
    use tokio::io::AsyncReadExt;

    use super::{Ready, ServerContainer, ServerSpec, free_port};
    use crate::provision::containers::{Recipe, prepare, remove_stopped};
    use crate::provision::{OWNED_LABEL, REUSE_KEY_LABEL, SERVICE_LABEL, container_labels};

    pub(super) async fn start(spec: ServerSpec) -> Result<ServerContainer, String> {
        let service = spec.service;
        let recipe = Recipe::from_env(service)?
            .ok_or_else(|| format!("{} has no image of its own", service.name()))?;
        let image_id = prepare(&recipe).await?;
        let image = recipe.image();
        let mut generic = GenericImage::new(image.name(), image.tag());
        for ready in &spec.ready {
            generic = generic.with_wait_for(match ready {
                Ready::Stdout(m) => WaitFor::message_on_stdout(m.as_str()),
                Ready::Stderr(m) => WaitFor::message_on_stderr(m.as_str()),
            });
        }
        if let Some(entrypoint) = &spec.entrypoint {
            generic = generic.with_entrypoint(entrypoint);
        }
        let mut ports = Vec::with_capacity(spec.ports.len());
        for &(host, container) in &spec.ports {
            let host = if host == 0 { free_port()? } else { host };
            ports.push((host, container));
        }
        let mut request = generic.with_startup_timeout(spec.startup_timeout);
        match &spec.reuse {
            Some(key) => {
                let mut labels = container_labels(spec.label, image, image_id.as_deref());
                labels.push((REUSE_KEY_LABEL, key.clone()));
                remove_stopped(&labels).await?;
                request = request
                    .with_labels(labels)
                    .with_reuse(ReuseDirective::Always);
            }
            None => {
                request = request
                    .with_label(SERVICE_LABEL, spec.label.name())
                    .with_label(OWNED_LABEL, "test");
            }
        }
        if !spec.args.is_empty() {
            request = request.with_cmd(spec.args.clone());
        }
        for (k, v) in &spec.env {
            request = request.with_env_var(k, v);
        }
        for &(host, container) in &ports {
            request = request.with_mapped_port(host, ContainerPort::Tcp(container));
        }
        for (path, contents, mode) in &spec.files {
            request = request.with_copy_to(
                CopyTargetOptions::new(path.as_str()).with_mode(*mode),
                contents.clone(),
            );
        }
        let inner: ContainerAsync<GenericImage> = request.start().await.map_err(|e| {
            format!(
                "could not start a {} container of {image} (host ports {:?}): {e}",
                spec.label.name(),
                ports.iter().map(|(h, _)| h).collect::<Vec<_>>()
            )
        })?;
        let host = inner
            .get_host()
            .await
            .map_err(|e| e.to_string())?
            .to_string();
        Ok(ServerContainer {
            inner,
            host,
            ports,
            service: spec.label,
        })
    }

    pub(super) async fn kill(id: &str) -> Result<(), String> {
        use testcontainers::bollard::query_parameters::KillContainerOptionsBuilder;
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .map_err(|e| format!("no Docker client: {e}"))?;
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        match docker.kill_container(id, Some(options)).await {
            // 409: not running (its server died already): nothing to kill.
            Ok(())
            | Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                ..
            }) => {}
            Err(e) => return Err(format!("could not kill container {id}: {e}")),
        }
        // Killed once the daemon says it is no longer running.
        for _ in 0..200 {
            let running = docker
                .inspect_container(id, None)
                .await
                .map_err(|e| format!("could not inspect container {id}: {e}"))?
                .state
                .and_then(|s| s.running)
                .unwrap_or(false);
            if !running {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Err(format!("container {id} still runs 5 s after SIGKILL"))
    }

    pub(super) async fn exec(
        container: &ContainerAsync<GenericImage>,
        command: &[&str],
    ) -> Result<String, String> {
        let mut result = container
            .exec(ExecCommand::new(command.iter().copied()))
            .await
            .map_err(|e| format!("could not run {command:?}: {e}"))?;
        let mut out = Vec::new();
        let mut err = Vec::new();
        result
            .stdout()
            .read_to_end(&mut out)
            .await
            .map_err(|e| format!("could not read {command:?}'s output: {e}"))?;
        result
            .stderr()
            .read_to_end(&mut err)
            .await
            .map_err(|e| format!("could not read {command:?}'s errors: {e}"))?;
        let code = result.exit_code().await.map_err(|e| e.to_string())?;
        if code.unwrap_or(0) != 0 {
            return Err(format!(
                "{command:?} exited with {code:?}: {}",
                String::from_utf8_lossy(&err).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
