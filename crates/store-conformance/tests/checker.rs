//! The linearizability checker catches real bugs: two stores that break
//! atomicity the way a careless backend would (a read-then-write `Update`,
//! a check-then-insert `Create`) fail it, while the store they wrap passes.

use std::sync::Arc;
use std::time::Duration;

use store_conformance::faults::{Intercept, Intercepted};
use store_conformance::linearizability::{HistoryConfig, check, record};
use store_core::{
    Bytes, Clock, Error, ErrorKind, Key, PutMode, PutOptions, PutResult, Result, Store, SystemClock,
};
use store_memory::MemoryStore;

/// How the wrapped store breaks atomicity.
#[derive(Debug, Clone, Copy)]
enum Bug {
    /// `Update` reads, then writes with `Upsert`: a delete in between is
    /// undone.
    UpdateReadThenWrite,
    /// `Create` reads, then writes with `Upsert`: two creates both win.
    CreateCheckThenInsert,
}

/// A correct store with one operation split into two steps.
#[derive(Debug)]
struct Broken {
    inner: MemoryStore,
    bug: Bug,
}

impl Broken {
    /// The second step of the broken operation, after a pause in which
    /// other calls may run.
    async fn write_anyway(
        &self,
        key: &Key,
        value: Bytes,
        options: PutOptions,
    ) -> Result<PutResult> {
        tokio::time::sleep(Duration::from_micros(300)).await;
        let mut upsert = PutOptions::new(PutMode::Upsert);
        upsert.expires_at = options.expires_at;
        upsert.owner = options.owner;
        self.inner.put(key, value, upsert).await
    }
}

#[store_core::async_trait]
impl Intercept for Broken {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        match (self.bug, &options.mode) {
            (Bug::UpdateReadThenWrite, PutMode::Update) => {
                if self.inner.get(key).await?.is_none() {
                    return Err(Error::new(ErrorKind::NotFound, "no such key"));
                }
                self.write_anyway(key, value, options).await
            }
            (Bug::CreateCheckThenInsert, PutMode::Create) => {
                if self.inner.get(key).await?.is_some() {
                    return Err(Error::new(ErrorKind::AlreadyExists, "the key exists"));
                }
                self.write_anyway(key, value, options).await
            }
            _ => self.inner.put(key, value, options).await,
        }
    }
}

/// Records up to `histories` histories on `store`; returns the first
/// violation's trace and how many histories it took.
async fn first_violation(store: Arc<dyn Store>, histories: u64) -> Option<(u64, String)> {
    let stores = [store.clone(), store.clone(), store];
    for i in 0..histories {
        let config = HistoryConfig::new(6, 30, 2).with_seed(1000 + i);
        let history = record(&stores, &config, SystemClock.now(), &format!("h{i}")).await;
        if let Err(v) = check(&history) {
            assert!(
                !v.is_inconclusive(),
                "the search gave up instead of deciding:\n{v}"
            );
            return Some((i + 1, v.to_string()));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_then_write_update_is_not_linearizable() {
    let store = Arc::new(Intercepted(Broken {
        inner: MemoryStore::new(),
        bug: Bug::UpdateReadThenWrite,
    }));
    let (after, trace) = first_violation(store, 200)
        .await
        .expect("the checker must catch an Update that reads then writes");
    println!("caught after {after} histories:\n{trace}");
    assert!(trace.contains("not linearizable"), "{trace}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_then_insert_create_is_not_linearizable() {
    let store = Arc::new(Intercepted(Broken {
        inner: MemoryStore::new(),
        bug: Bug::CreateCheckThenInsert,
    }));
    let (after, trace) = first_violation(store, 200)
        .await
        .expect("the checker must catch a Create that checks then inserts");
    println!("caught after {after} histories:\n{trace}");
    assert!(trace.contains("not linearizable"), "{trace}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_correct_store_passes_the_same_histories() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    assert!(
        first_violation(store, 40).await.is_none(),
        "MemoryStore must be linearizable"
    );
}
