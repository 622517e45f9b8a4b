//! `MemoryStore` next to a plain `RwLock<HashMap>` doing the same work, in
#![allow(missing_docs)] // criterion_group! generates undocumented items.
//! the same run: `get`, `put(Upsert)` and `put(UpdateIf)` with a 200-byte
//! value, from 1, 2 and 8 concurrent tasks. Each task works on its own 1,024
//! keys, so the numbers measure the store, not conflicts.
//!
//! Run with `cargo bench -p store-memory`; criterion reports throughput in
//! elements (operations) per second.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use store_core::{Key, PutMode, PutOptions, Store};
use store_memory::MemoryStore;
use tokio::runtime::Runtime;

const KEYS_PER_TASK: usize = 1024;
const TASK_COUNTS: [usize; 3] = [1, 2, 8];

#[derive(Clone, Copy)]
enum Op {
    Get,
    Upsert,
    UpdateIf,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Upsert => "put_upsert",
            Op::UpdateIf => "put_update_if",
        }
    }
}

/// The floor: one lock around one map, no expiry, no owner index.
#[derive(Default)]
struct Baseline {
    map: RwLock<HashMap<String, (Bytes, u64)>>,
}

impl Baseline {
    fn get(&self, k: &str) -> Option<Bytes> {
        self.map.read().unwrap().get(k).map(|(v, _)| v.clone())
    }

    fn upsert(&self, k: &str, v: Bytes) -> u64 {
        let mut map = self.map.write().unwrap();
        match map.get_mut(k) {
            Some(slot) => {
                slot.1 += 1;
                slot.0 = v;
                slot.1
            }
            None => {
                map.insert(k.to_owned(), (v, 1));
                1
            }
        }
    }

    fn update_if(&self, k: &str, v: Bytes, expected: u64) -> Option<u64> {
        let mut map = self.map.write().unwrap();
        let slot = map.get_mut(k)?;
        if slot.1 != expected {
            return None;
        }
        slot.1 += 1;
        slot.0 = v;
        Some(slot.1)
    }
}

fn keys(task: usize) -> Vec<Key> {
    (0..KEYS_PER_TASK)
        .map(|i| Key::new(format!("bench:{task}:{i}")).unwrap())
        .collect()
}

/// Spawns every worker at once and returns how long until all finished.
async fn time_tasks<W>(workers: impl Iterator<Item = W>) -> Duration
where
    W: Future<Output = ()> + Send + 'static,
{
    let workers: Vec<W> = workers.collect();
    let start = Instant::now();
    let handles: Vec<_> = workers.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

async fn run_store(store: MemoryStore, op: Op, tasks: usize, iters: u64) -> Duration {
    let value = Bytes::from(vec![b'v'; 200]);
    let mut prepared = Vec::new();
    for t in 0..tasks {
        let keys = keys(t);
        let mut versions = Vec::with_capacity(keys.len());
        for k in &keys {
            let r = store
                .put(k, value.clone(), PutOptions::default())
                .await
                .unwrap();
            versions.push(r.version);
        }
        prepared.push((keys, versions));
    }
    let per_task = iters.div_ceil(tasks as u64);
    let workers = prepared.into_iter().map(|(keys, mut versions)| {
        let store = store.clone();
        let value = value.clone();
        async move {
            for i in 0..per_task as usize {
                let slot = i % KEYS_PER_TASK;
                let k = &keys[slot];
                match op {
                    Op::Get => {
                        black_box(store.get(k).await.unwrap());
                    }
                    Op::Upsert => {
                        black_box(
                            store
                                .put(k, value.clone(), PutOptions::default())
                                .await
                                .unwrap(),
                        );
                    }
                    Op::UpdateIf => {
                        let mode = PutMode::UpdateIf(versions[slot]);
                        let r = store.put(k, value.clone(), mode.into()).await.unwrap();
                        versions[slot] = r.version;
                    }
                }
            }
        }
    });
    time_tasks(workers).await
}

async fn run_baseline(base: Arc<Baseline>, op: Op, tasks: usize, iters: u64) -> Duration {
    let value = Bytes::from(vec![b'v'; 200]);
    let mut prepared = Vec::new();
    for t in 0..tasks {
        let keys: Vec<String> = keys(t).iter().map(|k| k.as_str().to_owned()).collect();
        let versions: Vec<u64> = keys.iter().map(|k| base.upsert(k, value.clone())).collect();
        prepared.push((keys, versions));
    }
    let per_task = iters.div_ceil(tasks as u64);
    let workers = prepared.into_iter().map(|(keys, mut versions)| {
        let base = Arc::clone(&base);
        let value = value.clone();
        async move {
            for i in 0..per_task as usize {
                let slot = i % KEYS_PER_TASK;
                let k = &keys[slot];
                match op {
                    Op::Get => {
                        black_box(base.get(k));
                    }
                    Op::Upsert => {
                        black_box(base.upsert(k, value.clone()));
                    }
                    Op::UpdateIf => {
                        versions[slot] = base.update_if(k, value.clone(), versions[slot]).unwrap();
                    }
                }
            }
        }
    });
    time_tasks(workers).await
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    for op in [Op::Get, Op::Upsert, Op::UpdateIf] {
        let mut group = c.benchmark_group(op.name());
        group.throughput(Throughput::Elements(1));
        for tasks in TASK_COUNTS {
            group.bench_function(BenchmarkId::new("memory_store", tasks), |b| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    run_store(MemoryStore::new(), op, tasks, iters).await
                });
            });
            group.bench_function(BenchmarkId::new("rwlock_hashmap", tasks), |b| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    run_baseline(Arc::new(Baseline::default()), op, tasks, iters).await
                });
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
