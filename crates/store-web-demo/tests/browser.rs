//! The demo in a real browser: headless Chromium driven through WebDriver
//! (Debian's `chromedriver`), against the demo binary started the way a user
//! runs it (a fresh directory, `PORT=0`, the default SQLite file
//! `store-demo.db`).
//!
//! Browser A logs in as alice and counts twice; browser B, a second WebDriver
//! session with a profile (and so a cookie jar) of its own, logs in as alice
//! too, sees both sessions on `/sessions`, opens `/token`, and revokes A's
//! session: A's next page says `not logged in`. Then A logs in again and
//! starts the slow save that races a logout, which must leave it logged out.
//!
//! A PNG screenshot is saved after each step into a folder under the system
//! temp dir (or `STORE_SCREENSHOTS_DIR`), with an `index.txt` saying what each
//! one shows; the folder is kept, and printed.
//!
//! `STORE_TEST_CHROMIUM` and `STORE_TEST_CHROMEDRIVER` name the binaries
//! (`scripts/test-all.sh` installs Debian's `chromium` and `chromium-driver`
//! and sets them); without them `chromium` and `chromedriver` are looked up
//! on `PATH`. When they are missing the test is skipped, or fails under
//! `STORE_TEST_REQUIRE=1`.
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use store_conformance::provision;
use tempfile::TempDir;

/// How long a page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the demo and chromedriver may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole browser flow's limit.
const FLOW_TIMEOUT: Duration = Duration::from_secs(240);
/// How long a stopped process gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A step's outcome: the error says what was expected and what was seen.
type Step<T = ()> = Result<T, String>;

#[tokio::test]
async fn demo_revoke_from_a_second_browser_logs_the_first_out() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("store-web-demo-browser.")
        .tempdir()
        .expect("a temp dir");
    let demo = Demo::start(work.path());
    eprintln!("{}", demo.banner);
    let driver = Driver::start(&tools.chromedriver, work.path());
    let mut shots = Shots::new();
    eprintln!("screenshots in {}", shots.dir.display());

    let a = Browser::open(&driver, &tools.chromium, "A", work.path()).await;
    let b = Browser::open(&driver, &tools.chromium, "B", work.path()).await;
    let outcome = tokio::time::timeout(FLOW_TIMEOUT, flow(&demo.url, &a, &b, &mut shots))
        .await
        .unwrap_or_else(|_| Err(format!("the flow took longer than {FLOW_TIMEOUT:?}")));
    if let Err(message) = outcome {
        // Best effort: what both browsers show, and the logs, for the report.
        let _ = shots
            .take(&a, "failure", "browser A when the test failed")
            .await;
        let _ = shots
            .take(&b, "failure", "browser B when the test failed")
            .await;
        for log in [DEMO_LOG, DRIVER_LOG] {
            let _ = fs::copy(work.path().join(log), shots.dir.join(log));
        }
        panic!(
            "{message}\nscreenshots, {DEMO_LOG} and {DRIVER_LOG} in {}",
            shots.dir.display()
        );
    }
    a.close().await;
    b.close().await;
    assert!(
        work.path().join("store-demo.db").is_file(),
        "the demo did not use the default SQLite file store-demo.db in its directory"
    );
    drop(driver);
    drop(demo);
    shots.report();
}

/// The steps, each followed by a screenshot.
async fn flow(home: &str, a: &Browser, b: &Browser, shots: &mut Shots) -> Step {
    a.goto(home).await?;
    a.wait_text("#status", "not logged in").await?;
    a.wait_for("#backend", "names the backend sqlite", |t| {
        t.contains("sqlite")
    })
    .await?;
    shots
        .take(
            a,
            "home",
            "browser A opens /: not logged in, backend sqlite",
        )
        .await?;

    a.log_in("alice").await?;
    a.wait_text("#status", "hello alice, count = 0").await?;
    shots
        .take(a, "logged-in", "browser A logged in as alice: count = 0")
        .await?;

    a.click("#count").await?;
    a.wait_text("#status", "hello alice, count = 1").await?;
    a.click("#count").await?;
    a.wait_text("#status", "hello alice, count = 2").await?;
    shots
        .take(
            a,
            "count-2",
            "browser A after two clicks on count: count = 2",
        )
        .await?;

    b.goto(home).await?;
    b.wait_text("#status", "not logged in").await?;
    b.log_in("alice").await?;
    b.wait_text("#status", "hello alice, count = 0").await?;
    shots
        .take(
            b,
            "logged-in",
            "browser B, its own cookie jar, logged in as alice too: count = 0",
        )
        .await?;

    b.click(r#"a[href$="/token"]"#).await?;
    b.wait_for("#refreshes", "reads `refreshes: N`", |t| {
        t.strip_prefix("refreshes: ")
            .is_some_and(|n| n.parse::<u64>().is_ok())
    })
    .await?;
    shots
        .take(b, "token", "browser B opens /token: refreshes: N")
        .await?;

    b.goto(home).await?;
    b.click(r#"a[href$="/sessions"]"#).await?;
    b.wait_text("#sessions-title", "sessions of alice: 2")
        .await?;
    let rows = b.sessions().await?;
    if rows.len() != 2 || rows.iter().filter(|current| **current).count() != 1 {
        return Err(format!(
            "browser B: /sessions should list 2 li.session, one with data-current=\"true\"; \
             data-current values: {rows:?}"
        ));
    }
    shots
        .take(
            b,
            "sessions-2",
            "browser B opens /sessions: sessions of alice: 2, its own marked current",
        )
        .await?;

    b.click(r#"li.session[data-current="false"] .revoke"#)
        .await?;
    b.wait_text("#sessions-title", "sessions of alice: 1")
        .await?;
    let rows = b.sessions().await?;
    if rows != [true] {
        return Err(format!(
            "browser B: after the revoke, /sessions should list only its own session \
             (data-current=\"true\"); data-current values: {rows:?}"
        ));
    }
    shots
        .take(
            b,
            "revoked",
            "browser B revoked the other session (A's): sessions of alice: 1",
        )
        .await?;

    a.goto(home).await?;
    a.wait_text("#status", "not logged in").await?;
    shots
        .take(
            a,
            "revoked",
            "browser A reloads / after B revoked its session: not logged in",
        )
        .await?;

    a.log_in("alice").await?;
    a.wait_text("#status", "hello alice, count = 0").await?;
    shots
        .take(a, "logged-in-again", "browser A logged in as alice again")
        .await?;

    a.click("#race").await?;
    a.wait_text("#status", "not logged in").await?;
    shots
        .take(
            a,
            "race",
            "browser A after a slow save raced a logout of its session: not logged in",
        )
        .await?;
    // Wherever the race's answer led, `/` itself says logged out.
    a.goto(home).await?;
    a.wait_text("#status", "not logged in").await?;
    Ok(())
}

/// The chromedriver and Chromium binaries.
struct Tools {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

impl Tools {
    /// The binaries, or `None` after [`provision::skip`] said why.
    fn find() -> Option<Self> {
        let found = binary("STORE_TEST_CHROMEDRIVER", &["chromedriver"]).and_then(|driver| {
            Ok((
                driver,
                binary("STORE_TEST_CHROMIUM", &["chromium", "chromium-browser"])?,
            ))
        });
        match found {
            Ok((chromedriver, chromium)) => Some(Self {
                chromedriver,
                chromium,
            }),
            Err(missing) => provision::skip(
                "browser",
                &format!(
                    "{missing}: install Debian's chromium and chromium-driver \
                     (apt-get install -y chromium chromium-driver; scripts/test-all.sh does it as root)"
                ),
            ),
        }
    }
}

/// The executable that `var` names, else the first of `names` on `PATH`.
fn binary(var: &str, names: &[&str]) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(format!("{var}={} is not an executable", path.display()))
        };
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|p| executable(p))
        .ok_or_else(|| format!("no {} on PATH and no {var}", names.join(" or ")))
}

/// A child process, stopped when dropped (also on a panic): a signal first
/// (to its whole process group when it leads one), SIGKILL after
/// [`STOP_GRACE`].
struct Process {
    child: Child,
    signal: &'static str,
    group: bool,
}

impl Process {
    fn target(&self) -> String {
        if self.group {
            format!("-{}", self.child.id())
        } else {
            self.child.id().to_string()
        }
    }

    /// Sends `signal` with kill(1); without it, SIGKILL to the child alone.
    fn kill(&mut self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), "--", &self.target()])
            .stderr(Stdio::null())
            .status();
        if sent.is_err() {
            let _ = self.child.kill();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill(self.signal);
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The group's other members (the browsers) go with their leader.
        if self.group || matches!(self.child.try_wait(), Ok(None)) {
            self.kill("KILL");
        }
        let _ = self.child.wait();
    }
}

const DEMO_LOG: &str = "demo.log";
const DRIVER_LOG: &str = "chromedriver.log";

fn read_log(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// The demo binary, run as a user runs it.
struct Demo {
    url: String,
    banner: String,
    _process: Process,
}

impl Demo {
    /// Starts the demo in `dir` with `PORT=0` and no `STORE_URL` (the
    /// default SQLite file there), and reads its URL from its first line.
    fn start(dir: &Path) -> Self {
        let log = File::create(dir.join(DEMO_LOG)).expect("the demo's log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_store-web-demo"))
            .current_dir(dir)
            .env("PORT", "0")
            .env_remove("STORE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the store-web-demo binary");
        let stdout = child.stdout.take().expect("the demo's stdout");
        let process = Process {
            child,
            signal: "INT",
            group: false,
        };
        // Reads every line, so the demo never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let url = line
                        .strip_prefix("store demo on ")
                        .and_then(|rest| rest.split_whitespace().next());
                    if let Some(url) = url {
                        return Self {
                            url: url.to_owned(),
                            banner: line.clone(),
                            _process: process,
                        };
                    }
                }
                Err(_) => panic!(
                    "the demo printed no `store demo on http://…` line within {START_TIMEOUT:?}; \
                     its stderr:\n{}",
                    read_log(dir, DEMO_LOG)
                ),
            }
        }
    }
}

/// chromedriver on a free loopback port, leading a process group of its
/// own that the browsers it starts join.
struct Driver {
    addr: SocketAddr,
    url: String,
    _process: Process,
}

impl Driver {
    fn start(chromedriver: &Path, dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = File::create(dir.join(DRIVER_LOG)).expect("chromedriver's log file");
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let mut process = Process {
            child,
            signal: "TERM",
            group: true,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        while http(addr, "GET", "/status").is_none_or(|answer| !answer.contains("\"ready\":true")) {
            if Instant::now() > deadline || !matches!(process.child.try_wait(), Ok(None)) {
                panic!(
                    "chromedriver did not answer on port {port} within {START_TIMEOUT:?}; its log:\n{}",
                    read_log(dir, DRIVER_LOG)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            addr,
            url: format!("http://{addr}"),
            _process: process,
        }
    }
}

/// One HTTP/1.1 request to chromedriver without the async client: usable
/// in a `Drop`, also while a panic unwinds. The answer's body, read by its
/// `Content-Length` (chromedriver keeps the connection open).
fn http(addr: SocketAddr, method: &str, path: &str) -> Option<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    write!(
        &stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

/// A headless Chromium in a WebDriver session of its own: its own profile
/// directory, and so its own cookies.
struct Browser {
    name: &'static str,
    client: Client,
    session: String,
    driver: SocketAddr,
    closed: bool,
    _profile: TempDir,
}

impl Browser {
    async fn open(driver: &Driver, chromium: &Path, name: &'static str, dir: &Path) -> Self {
        let profile = tempfile::Builder::new()
            .prefix(&format!("profile-{}.", name.to_lowercase()))
            .tempdir_in(dir)
            .expect("a profile dir");
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Chromium's sandbox refuses to run as root (CI runs as root).
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1000,700",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("the capabilities are an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("browser {name}: chromedriver started no Chromium: {e}"));
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session id");
        Self {
            name,
            client,
            session,
            driver: driver.addr,
            closed: false,
            _profile: profile,
        }
    }

    /// Ends the WebDriver session: Chromium exits.
    async fn close(mut self) {
        if let Err(e) = self.client.clone().close().await {
            panic!("browser {}: closing the session: {e}", self.name);
        }
        self.closed = true;
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> String {
        format!("browser {}: {what}: {e}", self.name)
    }

    async fn goto(&self, url: &str) -> Step {
        self.client
            .goto(url)
            .await
            .map_err(|e| self.fail(&format!("open {url}"), e))
    }

    async fn click(&self, css: &str) -> Step {
        let found = self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await;
        let element = match found {
            Ok(element) => element,
            Err(e) => {
                let on = self.location().await;
                return Err(self.fail(&format!("find {css} on {on}"), e));
            }
        };
        element
            .click()
            .await
            .map_err(|e| self.fail(&format!("click {css}"), e))
    }

    async fn log_in(&self, name: &str) -> Step {
        let input = r#"form#login input[name="name"]"#;
        let field = self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(input))
            .await
            .map_err(|e| self.fail(&format!("find {input}"), e))?;
        field
            .clear()
            .await
            .map_err(|e| self.fail(&format!("clear {input}"), e))?;
        field
            .send_keys(name)
            .await
            .map_err(|e| self.fail(&format!("type into {input}"), e))?;
        self.click("form#login #login-submit").await
    }

    async fn location(&self) -> String {
        self.client
            .current_url()
            .await
            .map_or_else(|e| format!("(no URL: {e})"), |u| u.to_string())
    }

    /// Waits until `css`'s text is exactly `want`.
    async fn wait_text(&self, css: &str, want: &str) -> Step {
        self.wait_for(css, &format!("reads {want:?}"), |t| t == want)
            .await
    }

    /// Waits until `css`'s text (trimmed) passes `check`.
    async fn wait_for(&self, css: &str, expected: &str, check: impl Fn(&str) -> bool) -> Step {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let seen = match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.text().await {
                    Ok(text) if check(text.trim()) => return Ok(()),
                    Ok(text) => format!("it reads {:?}", text.trim()),
                    Err(e) => format!("its text: {e}"),
                },
                Err(e) => format!("no {css}: {e}"),
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "browser {}: expected {css} that {expected} within {STEP_TIMEOUT:?} on {}; {seen}",
                    self.name,
                    self.location().await
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `data-current` of each `li.session`, `true` for "true".
    async fn sessions(&self) -> Step<Vec<bool>> {
        let rows = self
            .client
            .find_all(Locator::Css("li.session"))
            .await
            .map_err(|e| self.fail("list li.session", e))?;
        let mut current = Vec::new();
        for row in rows {
            let value = row
                .attr("data-current")
                .await
                .map_err(|e| self.fail("read data-current", e))?;
            match value.as_deref() {
                Some("true") => current.push(true),
                Some("false") => current.push(false),
                other => {
                    return Err(self.fail(
                        "li.session's data-current",
                        format!("{other:?}, not \"true\" or \"false\""),
                    ));
                }
            }
        }
        Ok(current)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed {
            // A panic before `close`: end the session (and Chromium) now,
            // before the profile dir is removed and chromedriver stopped.
            let _ = http(self.driver, "DELETE", &format!("/session/{}", self.session));
        }
    }
}

/// The screenshots' folder and its index.
struct Shots {
    dir: PathBuf,
    taken: Vec<(String, String)>,
}

impl Shots {
    /// `STORE_SCREENSHOTS_DIR`, else a new folder under the temp dir.
    fn new() -> Self {
        let dir = match std::env::var_os("STORE_SCREENSHOTS_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let stamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                std::env::temp_dir().join(format!(
                    "store-web-demo-screenshots-{stamp}-{}",
                    std::process::id()
                ))
            }
        };
        fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create the screenshots folder {}: {e}", dir.display()));
        Self {
            dir,
            taken: Vec::new(),
        }
    }

    /// Saves what `browser` shows as `NN-browser-slug.png` and rewrites
    /// `index.txt` (so a failed run keeps an index of what it got to).
    async fn take(&mut self, browser: &Browser, slug: &str, what: &str) -> Step {
        let name = format!(
            "{:02}-{}-{slug}.png",
            self.taken.len() + 1,
            browser.name.to_lowercase()
        );
        let png = browser
            .client
            .screenshot()
            .await
            .map_err(|e| browser.fail("screenshot", e))?;
        let path = self.dir.join(&name);
        fs::write(&path, png).map_err(|e| format!("write {}: {e}", path.display()))?;
        eprintln!("  {name}: {what}");
        self.taken.push((name, what.to_owned()));
        let index: String = self
            .taken
            .iter()
            .map(|(name, what)| format!("{name}\t{what}\n"))
            .collect();
        let path = self.dir.join("index.txt");
        fs::write(&path, index).map_err(|e| format!("write {}: {e}", path.display()))
    }

    fn report(&self) {
        eprintln!(
            "{} screenshots in {} (index.txt says what each shows):",
            self.taken.len(),
            self.dir.display()
        );
        for (name, _) in &self.taken {
            eprintln!("  {name}");
        }
    }
}
