//! [`CapturedLog`]: every `tracing` event of a test, as text, for checking
//! that no key, value, session id or password reaches a log line.
//!
//! ```
//! use store_conformance::logs::CapturedLog;
//!
//! let log = CapturedLog::default();
//! let _guard = tracing::subscriber::set_default(log.subscriber());
//! tracing::info!(user = "alice", "signed in");
//! assert!(log.text().contains("signed in"));
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// A shared buffer that a `tracing` fmt subscriber writes into (all levels,
/// no colours) and that other loggers can append lines to. Clones share the
/// buffer.
#[derive(Debug, Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Appends one line (for loggers other than `tracing`, such as `log`).
    pub fn push_line(&self, line: &str) {
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
    }

    /// A subscriber that writes every event and span, down to TRACE, into
    /// this buffer; install it with `tracing::subscriber::set_default` (this
    /// thread) or `set_global_default` (the whole test binary).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
