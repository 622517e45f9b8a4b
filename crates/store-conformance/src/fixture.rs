//! [`TestBackend`] and [`Fixture`]: what each behaviour runs against.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use store_core::{Clock, Expiry, ManualClock, Result, Store, SystemClock};

/// How much real time a [`TestClock::Real`] fixture waits for a nominal
/// duration of a behaviour: half of it (a nominal 1.5 s expiry is 750 ms).
pub const REAL_TIME_SCALE: f64 = 0.5;

/// The clock that decides expiry in a backend's stores, as the suite sees it.
#[derive(Debug, Clone)]
pub enum TestClock {
    /// The stores use this manual clock: the suite moves time instantly.
    Manual(ManualClock),
    /// The stores (or their server) use real time: the suite sleeps, with
    /// durations scaled by [`REAL_TIME_SCALE`].
    Real,
}

/// A backend under test: it opens stores on one shared server.
///
/// Implement it once per backend; `conformance_tests!` runs every behaviour
/// against it.
///
/// ```
/// use std::sync::Arc;
/// use store_conformance::{TestBackend, TestClock};
/// use store_core::{ManualClock, Result, Store};
/// use store_memory::{MemoryConfig, MemoryStore};
///
/// #[derive(Debug)]
/// struct Memory { root: MemoryStore, clock: ManualClock }
///
/// #[store_core::async_trait]
/// impl TestBackend for Memory {
///     async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
///         Ok(Arc::new(self.root.with_namespace(namespace)?))
///     }
///     fn clock(&self) -> TestClock {
///         TestClock::Manual(self.clock.clone())
///     }
/// }
/// ```
#[async_trait]
pub trait TestBackend: Send + Sync + fmt::Debug + 'static {
    /// Opens a new store object in `namespace` on the shared server: a new
    /// connection where the backend has one, seeing the same data another
    /// process would.
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>>;

    /// Opens a store object in `namespace` with connections of its own (a
    /// new client or pool, not shared with any other store object), as a
    /// separate process would have. The default is [`open`](Self::open),
    /// for backends whose store objects share nothing anyway or cannot
    /// reach the same data through a second connection (a private
    /// in-memory database).
    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        self.open(namespace).await
    }

    /// The clock that decides expiry in the stores this backend opens.
    fn clock(&self) -> TestClock;
}

/// One behaviour's view of a backend: a store in a fresh random namespace,
/// more stores on demand, and control over time.
///
/// ```
/// # use std::sync::Arc;
/// # use store_conformance::{Fixture, TestBackend, TestClock};
/// # use store_core::{ManualClock, Result, Store};
/// # use store_memory::{MemoryConfig, MemoryStore};
/// # #[derive(Debug)]
/// # struct Memory { root: MemoryStore, clock: ManualClock }
/// # #[store_core::async_trait]
/// # impl TestBackend for Memory {
/// #     async fn open(&self, ns: &str) -> Result<Arc<dyn Store>> { Ok(Arc::new(self.root.with_namespace(ns)?)) }
/// #     fn clock(&self) -> TestClock { TestClock::Manual(self.clock.clone()) }
/// # }
/// use std::time::Duration;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let clock = ManualClock::starting_now();
/// let root = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())).unwrap();
/// let fx = Fixture::new(Memory { root, clock }).await;
/// let start = fx.now();
/// fx.advance(Duration::from_secs(5)).await; // instant with a manual clock
/// assert_eq!(fx.now().saturating_duration_since(start), Duration::from_secs(5));
/// // A custom check, then a whole behaviour of the suite:
/// store_conformance::behaviours::get_missing_is_none(fx).await;
/// # });
/// ```
#[derive(Debug)]
pub struct Fixture {
    backend: Arc<dyn TestBackend>,
    store: Arc<dyn Store>,
    namespace: String,
    clock: TestClock,
}

/// A fresh random namespace such as `conformance-1f2e3d4c5b6a7988`.
pub fn random_namespace() -> String {
    format!("conformance-{:016x}", rand::rng().random::<u64>())
}

impl Fixture {
    /// Opens a store of `backend` in a fresh random namespace.
    ///
    /// # Panics
    /// When the backend cannot open a store: the behaviour cannot run.
    pub async fn new(backend: impl TestBackend) -> Self {
        let backend: Arc<dyn TestBackend> = Arc::new(backend);
        let namespace = random_namespace();
        let store = match backend.open(&namespace).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open a store for the conformance suite: {e}"),
        };
        let clock = backend.clock();
        Self {
            backend,
            store,
            namespace,
            clock,
        }
    }

    /// Runs the provisioning future; `None` means the backend is skipped
    /// (the provisioning printed why, or failed under `STORE_TEST_REQUIRE=1`).
    pub async fn provision<B, F>(backend: F) -> Option<Self>
    where
        B: TestBackend,
        F: Future<Output = Option<B>>,
    {
        match backend.await {
            Some(b) => Some(Self::new(b).await),
            None => None,
        }
    }

    /// The store under test.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// This fixture's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Another store object on the same data and namespace, as a second
    /// process would have.
    ///
    /// # Panics
    /// When the backend cannot open it.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        self.open_namespace(&self.namespace).await
    }

    /// Another store object on the same data and namespace, with
    /// connections of its own ([`TestBackend::connect`]).
    ///
    /// # Panics
    /// When the backend cannot open it.
    pub async fn connect(&self) -> Arc<dyn Store> {
        match self.backend.connect(&self.namespace).await {
            Ok(s) => s,
            Err(e) => panic!("cannot connect a second store: {e}"),
        }
    }

    /// A store in another namespace on the same server.
    ///
    /// # Panics
    /// When the backend cannot open it.
    pub async fn open_namespace(&self, namespace: &str) -> Arc<dyn Store> {
        match self.backend.open(namespace).await {
            Ok(s) => s,
            Err(e) => panic!("cannot open a second store: {e}"),
        }
    }

    /// The current instant of the clock that decides expiry.
    pub fn now(&self) -> Expiry {
        match &self.clock {
            TestClock::Manual(c) => c.now(),
            TestClock::Real => SystemClock.now(),
        }
    }

    /// The clock that decides expiry, to give to layers built on the store
    /// (a manual clock, or the system clock for real time).
    pub fn clock(&self) -> Arc<dyn Clock> {
        match &self.clock {
            TestClock::Manual(c) => Arc::new(c.clone()),
            TestClock::Real => Arc::new(SystemClock),
        }
    }

    /// Whether time is under the suite's control.
    pub fn is_manual(&self) -> bool {
        matches!(self.clock, TestClock::Manual(_))
    }

    /// A nominal duration as this fixture waits it: unchanged with a manual
    /// clock, scaled by [`REAL_TIME_SCALE`] with real time.
    pub fn scaled(&self, nominal: Duration) -> Duration {
        match self.clock {
            TestClock::Manual(_) => nominal,
            TestClock::Real => nominal.mul_f64(REAL_TIME_SCALE),
        }
    }

    /// The instant a (scaled) nominal duration from now.
    ///
    /// # Panics
    /// On overflow, which the suite's durations never reach.
    pub fn after(&self, nominal: Duration) -> Expiry {
        self.now()
            .checked_add(self.scaled(nominal))
            .expect("test expiry within range")
    }

    /// Lets a (scaled) nominal duration pass: moves the manual clock, or
    /// sleeps.
    pub async fn advance(&self, nominal: Duration) {
        match &self.clock {
            TestClock::Manual(c) => c.advance(nominal),
            TestClock::Real => tokio::time::sleep(self.scaled(nominal)).await,
        }
    }

    /// Lets time pass until `instant` is now or past.
    pub async fn advance_to(&self, instant: Expiry) {
        match &self.clock {
            TestClock::Manual(c) => {
                if c.now() < instant {
                    c.set(instant);
                }
            }
            TestClock::Real => loop {
                let now = SystemClock.now();
                if now >= instant {
                    break;
                }
                tokio::time::sleep(instant.saturating_duration_since(now)).await;
            },
        }
    }
}
