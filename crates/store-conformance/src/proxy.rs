//! [`FaultProxy`]: a TCP proxy between a store and its real server that
//! injects network faults on demand.
//!
//! The store connects to the proxy's address instead of the server's; the
//! test switches the proxy's [`Fault`] at run time and [`cut`s](FaultProxy::cut)
//! connections, then checks what the store did.
//!
//! ```no_run
//! use std::time::Duration;
//! use store_conformance::proxy::{Fault, FaultProxy};
//!
//! # async fn f() -> std::io::Result<()> {
//! let proxy = FaultProxy::start("127.0.0.1:6379").await?;
//! let url = proxy.url("redis://127.0.0.1:6379/"); // redis://127.0.0.1:<proxy port>/
//! // … open a store on `url`, then:
//! proxy.set(Fault::Stall); // every request goes unanswered
//! proxy.set(Fault::Latency(Duration::from_millis(50)));
//! proxy.cut(); // every open connection is closed now
//! proxy.set(Fault::Refuse); // new connections are closed at once
//! proxy.set(Fault::Pass);
//! # let _ = url;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards everything at once.
    Pass,
    /// Forwards everything, each chunk after this delay, in both directions.
    Latency(Duration),
    /// Accepts connections and reads requests but forwards nothing in either
    /// direction: a server that hangs. Held data flows again after the
    /// fault changes.
    Stall,
    /// Closes every new connection at once, before a byte is exchanged
    /// (open ones keep passing): a server that is down.
    Refuse,
}

struct Shared {
    fault: watch::Sender<Fault>,
    /// Bumped by [`FaultProxy::cut`]; every connection ends when it changes.
    cuts: watch::Sender<u64>,
    accepted: AtomicU64,
    forwarded: AtomicU64,
    round_trips: AtomicU64,
}

/// A fault-injecting TCP proxy to one upstream server, on a free loopback
/// port. Stops when dropped, closing every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("fault", &*self.shared.fault.borrow())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:<free port>` to `upstream`
    /// (`host:port`), passing traffic.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(upstream: impl Into<String>) -> io::Result<Self> {
        let upstream = upstream.into();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            fault: watch::Sender::new(Fault::Pass),
            cuts: watch::Sender::new(0),
            accepted: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, upstream.clone(), shared.clone()));
        Ok(Self {
            addr,
            upstream,
            shared,
            task,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` with its `host:port` (the part after `@`, or after `://`, up
    /// to the next `/`, `?` or the end) replaced by the proxy's address.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let proxy = store_conformance::proxy::FaultProxy::start("127.0.0.1:5432").await?;
    /// let url = proxy.url("postgres://app:pw@127.0.0.1:5432/db?sslmode=disable");
    /// assert_eq!(url, format!("postgres://app:pw@{}/db?sslmode=disable", proxy.addr()));
    /// # Ok(()) }
    /// ```
    pub fn url(&self, url: &str) -> String {
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            return url.to_owned();
        };
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_start = authority.rfind('@').map_or(0, |i| i + 1);
        format!(
            "{}{}{}{}",
            &url[..scheme_end],
            &authority[..host_start],
            self.addr,
            &rest[authority_end..]
        )
    }

    /// Switches what the proxy does, at once, for open and new connections.
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// The current fault.
    pub fn fault(&self) -> Fault {
        *self.shared.fault.borrow()
    }

    /// Closes every open connection now (new ones are accepted as the
    /// current fault says): a network cut or a server restart.
    pub fn cut(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// How many bytes the proxy has forwarded so far, both directions.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Relaxed)
    }

    /// How many round trips clients have made so far: on each connection,
    /// every burst of client bytes that follows the server's reply (or
    /// opens the connection) counts once, however many reads it takes.
    /// Exact for a client that waits for each reply before it sends again;
    /// pipelined requests on one connection count once per burst.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let proxy = store_conformance::proxy::FaultProxy::start("127.0.0.1:6379").await?;
    /// let before = proxy.round_trips();
    /// // … one call through proxy.url("redis://127.0.0.1:6379/") …
    /// let made = proxy.round_trips() - before;
    /// # let _ = made;
    /// # Ok(()) }
    /// ```
    pub fn round_trips(&self) -> u64 {
        self.shared.round_trips.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        if *shared.fault.borrow() == Fault::Refuse {
            // Closed before a byte is exchanged: the client's handshake
            // fails at once, as with a server that is down.
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, upstream.clone(), shared.clone()));
    }
}

async fn connection(client: TcpStream, upstream: String, shared: Arc<Shared>) {
    let mut cuts = shared.cuts.subscribe();
    cuts.mark_unchanged();
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Whether the client spoke last on this connection: the first client
    // burst after the server spoke starts a round trip.
    let client_spoke_last = AtomicBool::new(false);
    let up = pump(client_read, server_write, &shared, |n| {
        if !client_spoke_last.swap(true, Ordering::AcqRel) && n > 0 {
            shared.round_trips.fetch_add(1, Ordering::Relaxed);
        }
    });
    let down = pump(server_read, client_write, &shared, |_| {
        client_spoke_last.store(false, Ordering::Release);
    });
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = cuts.changed() => {}
    }
}

/// Copies one direction, chunk by chunk, as the current fault allows.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: &Shared,
    on_read: impl Fn(usize),
) {
    let mut fault = shared.fault.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        on_read(n);
        loop {
            let current = *fault.borrow_and_update();
            match current {
                Fault::Stall => {
                    if fault.changed().await.is_err() {
                        return;
                    }
                }
                Fault::Latency(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                Fault::Pass | Fault::Refuse => break,
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        shared.forwarded.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server that answers each read with the bytes it read.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn exchange(client: &mut TcpStream, message: &[u8]) {
        client.write_all(message).await.unwrap();
        let mut back = vec![0u8; message.len()];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(back, message);
    }

    #[tokio::test]
    async fn round_trips_count_each_request_after_a_reply() {
        let proxy = FaultProxy::start(echo_server().await.to_string())
            .await
            .unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.set_nodelay(true).unwrap();
        assert_eq!(proxy.round_trips(), 0);
        for _ in 0..3 {
            exchange(&mut client, b"ping").await;
        }
        assert_eq!(proxy.round_trips(), 3);

        // Two requests sent before any reply is read: one burst.
        client.write_all(b"ab").await.unwrap();
        client.write_all(b"cd").await.unwrap();
        let mut back = [0u8; 4];
        client.read_exact(&mut back).await.unwrap();
        // The burst may reach the server as one read or as two; both are
        // one round trip as long as no reply came in between.
        let after_burst = proxy.round_trips();
        assert!(
            (4..=5).contains(&after_burst),
            "a pipelined burst counted {}",
            after_burst - 3
        );

        // A second connection counts on its own.
        let mut other = TcpStream::connect(proxy.addr()).await.unwrap();
        exchange(&mut other, b"hello").await;
        exchange(&mut client, b"again").await;
        assert_eq!(proxy.round_trips(), after_burst + 2);
    }
}
