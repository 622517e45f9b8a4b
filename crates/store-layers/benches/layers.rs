//! What each layer costs: `get` and `put(Upsert)` (200-byte values, 1 and
//! 16 tasks) through each layer and through the whole stack, next to the
//! bare store, in the same run, over `MemoryStore` and over Redis.
//!
//! ```text
//! STORE_TEST_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p store-layers --all-features --bench layers
//! ```
//! (`just bench` starts a Redis server and runs it; without the URL only
//! memory runs.) A ratio is the median over 3 rounds of the layer's rate
//! divided by the bare store's rate measured right before it. The tracing
//! layer runs under a subscriber at `INFO`, as in production: its `DEBUG`
//! events are filtered out. The cache serves every `get` from memory after
//! the first (that is its point), so its `get` ratio over Redis is a
//! speed-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use store_core::{Clock, Key, PutMode, PutOptions, Store, SystemClock};
use store_layers::{
    Cache, CacheConfig, CachedStore, EncryptedStore, Keyring, RetryPolicy, RetryStore, Stack,
    TracedStore,
};

const KEYS_PER_TASK: usize = 256;
const ROUND: Duration = Duration::from_millis(300);
const ROUNDS: usize = 3;

async fn rate(store: &Arc<dyn Store>, put: bool, tasks: usize) -> f64 {
    // Each worker watches the deadline itself: calls into memory never
    // yield, so a timer task might not get to run until they stop.
    let deadline = Instant::now() + ROUND;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let keys: Vec<Key> = (0..KEYS_PER_TASK)
                    .map(|i| Key::new(format!("bench:{t}:{i}")).expect("key"))
                    .collect();
                let value = Bytes::from(vec![b'x'; 200]);
                let mut calls = 0u64;
                for key in keys.iter().cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    if put {
                        let expiry = SystemClock
                            .now()
                            .checked_add(Duration::from_secs(3600))
                            .expect("expiry");
                        let opts = PutOptions::new(PutMode::Upsert).expires_at(expiry);
                        store.put(key, value.clone(), opts).await.expect("put");
                    } else {
                        assert!(store.get(key).await.expect("get").is_some());
                    }
                    calls += 1;
                }
                done.fetch_add(calls, Ordering::Relaxed);
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The bare store and each layer around it (a namespace each).
fn sides(open: &dyn Fn(&str) -> Arc<dyn Store>) -> Vec<(&'static str, Arc<dyn Store>)> {
    let keyring = || Keyring::new(1, [9; 32]);
    let cache = || {
        Cache::new(
            CacheConfig::default()
                .max_entries(100_000)
                .max_bytes(256 << 20)
                .max_age(Duration::from_secs(3600)),
        )
    };
    vec![
        ("bare", open("bench_bare")),
        (
            "encryption",
            Arc::new(EncryptedStore::new(open("bench_enc"), keyring())),
        ),
        (
            "retry",
            Arc::new(RetryStore::new(open("bench_retry"), RetryPolicy::default())),
        ),
        (
            "cache",
            Arc::new(CachedStore::new(open("bench_cache"), cache())),
        ),
        ("tracing", Arc::new(TracedStore::new(open("bench_trace")))),
        (
            "whole stack",
            Stack::new(open("bench_stack"))
                .tracing()
                .cache(cache())
                .retry(RetryPolicy::default())
                .encryption(keyring())
                .build(),
        ),
    ]
}

async fn compare(backend: &str, sides: Vec<(&'static str, Arc<dyn Store>)>) {
    for (_, store) in &sides {
        for t in 0..16 {
            for i in 0..KEYS_PER_TASK {
                let key = Key::new(format!("bench:{t}:{i}")).expect("key");
                store
                    .put(&key, Bytes::from(vec![b'x'; 200]), PutMode::Upsert.into())
                    .await
                    .expect("preload");
            }
        }
    }
    for (put, op) in [(false, "get"), (true, "put(Upsert)")] {
        for tasks in [1, 16] {
            let mut cells = Vec::new();
            for (_, store) in sides.iter().skip(1) {
                let mut ratios = Vec::new();
                for _ in 0..ROUNDS {
                    let bare = rate(&sides[0].1, put, tasks).await;
                    let layered = rate(store, put, tasks).await;
                    ratios.push(layered / bare);
                }
                cells.push(format!("{:.2}", median(ratios)));
            }
            println!("| {backend} | {op} | {tasks} | {} |", cells.join(" | "));
        }
    }
}

fn main() {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("subscriber");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "| backend | operation | tasks | encryption | retry | cache | tracing | whole stack |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        let memory = store_memory::MemoryStore::new();
        compare("memory", sides(&|ns| Arc::new(memory.with_prefix(ns)))).await;
        match std::env::var("STORE_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let redis = store_redis::RedisStore::connect(&url)
                    .await
                    .expect("connect");
                let prefix = format!("bench{}", std::process::id());
                let open = |ns: &str| -> Arc<dyn Store> {
                    Arc::new(redis.with_prefix(format!("{prefix}:{ns}")).expect("prefix"))
                };
                compare("Redis", sides(&open)).await;
            }
            _ => {
                eprintln!("Redis skipped: set STORE_TEST_REDIS_URL (for example with `just bench`)")
            }
        }
    });
}
