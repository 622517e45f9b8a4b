//! `MongoStore` next to raw driver calls on the same server and client, in
//! the same run: `get` and `put(Upsert)` with an expiry, from 1 and 16
//! concurrent tasks, with a 200-byte value.
//!
//! Two raw contenders, each on a collection of its own:
//! - **same operations**: the store's `find_one` by `_id` and `replace_one`
//!   with `upsert` of the same document (`_id`, value, version, expiry) on a
//!   collection with the store's two indexes: what this crate's Rust layer
//!   costs;
//! - **bare**: the least a hand-written session store does: the same calls
//!   with `{ _id, value, expires_at }` on a collection with only a TTL
//!   index: what the contract (versions, the owner index) costs on top.
//!
//! The sides take turns in short rounds (7 of 0.8 s, a different side first
//! each round); a ratio is the median of the per-round ratios, so drift on
//! a busy machine hits all sides alike.
//!
//! ```text
//! STORE_TEST_MONGODB_URL=mongodb://127.0.0.1:27017/ cargo bench -p store-mongodb --bench mongodb
//! ```
//! (`just bench` starts a server and runs it.) Prints a markdown table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use store_core::{Clock, Expiry, Key, PutMode, PutOptions, Store, SystemClock};
use store_mongodb::MongoStore;
use store_mongodb::mongodb::bson::spec::BinarySubtype;
use store_mongodb::mongodb::bson::{Binary, DateTime, Document, doc};
use store_mongodb::mongodb::{Collection, IndexModel, options::IndexOptions};

const KEYS_PER_TASK: usize = 512;
const VALUE_LEN: usize = 200;
const ROUND: Duration = Duration::from_millis(800);
const ROUNDS: usize = 7;
const TTL: Duration = Duration::from_secs(3600);
const CONCURRENCY: [usize; 2] = [1, 16];
const DATABASE: &str = "store_bench";

#[derive(Clone, Copy)]
enum Op {
    Get,
    Upsert,
}

#[derive(Clone)]
enum Side {
    Store(Arc<MongoStore>),
    /// The store's document shape (with a version from a local counter) on
    /// a collection with the store's indexes.
    Same(Collection<Document>, Arc<AtomicI64>),
    Bare(Collection<Document>),
}

fn expiry() -> Expiry {
    SystemClock.now().checked_add(TTL).expect("expiry in range")
}

impl Side {
    async fn call(&self, op: Op, key: &Key, value: &Bytes) {
        match (self, op) {
            (Side::Store(s), Op::Get) => {
                let found = s.get(key).await.expect("get");
                assert!(found.is_some(), "bench key missing");
            }
            (Side::Store(s), Op::Upsert) => {
                let opts = PutOptions::new(PutMode::Upsert).expires_at(expiry());
                s.put(key, value.clone(), opts).await.expect("put");
            }
            (Side::Same(c, _) | Side::Bare(c), Op::Get) => {
                let found = c
                    .find_one(doc! { "_id": key.as_str() })
                    .await
                    .expect("find_one");
                assert!(found.is_some(), "bench key missing");
            }
            (Side::Same(c, _) | Side::Bare(c), Op::Upsert) => {
                let mut document = doc! {
                    "_id": key.as_str(),
                    "value": Binary { subtype: BinarySubtype::Generic, bytes: value.to_vec() },
                };
                if let Side::Same(_, versions) = self {
                    document.insert("version", versions.fetch_add(1, Ordering::Relaxed));
                }
                document.insert(
                    "expires_at",
                    DateTime::from_millis(expiry().as_unix_millis()),
                );
                c.replace_one(doc! { "_id": key.as_str() }, document)
                    .upsert(true)
                    .await
                    .expect("replace_one");
            }
        }
    }
}

fn keys(task: usize) -> Vec<Key> {
    (0..KEYS_PER_TASK)
        .map(|i| Key::new(format!("bench:t{task}:k{i}")).expect("key"))
        .collect()
}

/// Operations per second of `tasks` tasks calling `op` for one round.
async fn ops_per_sec(side: &Side, op: Op, tasks: usize) -> f64 {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            let (side, stop, done, value) =
                (side.clone(), stop.clone(), done.clone(), value.clone());
            tokio::spawn(async move {
                let keys = keys(task);
                let mut calls = 0u64;
                for key in keys.iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    side.call(op, key, &value).await;
                    calls += 1;
                }
                done.fetch_add(calls, Ordering::Relaxed);
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

async fn run(url: &str) {
    let name = format!("bench_{}", std::process::id());
    let store = MongoStore::connect(url, DATABASE, &name)
        .await
        .expect("connect");
    store.ensure_indexes().await.expect("indexes");
    let same = store
        .with_collection(&format!("{name}_same"))
        .expect("same");
    same.ensure_indexes().await.expect("same indexes");
    let same = same.collection().clone();
    let bare = store
        .collection()
        .client()
        .database(DATABASE)
        .collection::<Document>(&format!("{name}_bare"));
    let ttl = IndexModel::builder()
        .keys(doc! { "expires_at": 1 })
        .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
        .build();
    bare.create_index(ttl).await.expect("bare TTL index");
    let sides = [
        Side::Store(Arc::new(store.clone())),
        Side::Same(same.clone(), Arc::new(AtomicI64::new(1))),
        Side::Bare(bare.clone()),
    ];

    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    for side in &sides {
        for task in 0..CONCURRENCY[1] {
            for key in keys(task) {
                side.call(Op::Upsert, &key, &value).await;
            }
        }
    }
    for (op, label) in [(Op::Get, "get"), (Op::Upsert, "put(Upsert)")] {
        for tasks in CONCURRENCY {
            let mut rates: [Vec<f64>; 3] = Default::default();
            for round in 0..ROUNDS {
                for i in 0..sides.len() {
                    let i = (i + round) % sides.len();
                    rates[i].push(ops_per_sec(&sides[i], op, tasks).await);
                }
            }
            // Ratios per round (the sides of one round ran back to back),
            // then the median.
            let ratio =
                |other: &[f64]| median(rates[0].iter().zip(other).map(|(a, b)| a / b).collect());
            let (to_same, to_bare) = (ratio(&rates[1]), ratio(&rates[2]));
            let [ours, same, bare] = rates.map(median);
            println!(
                "| {label} | {tasks} | {ours:.0} | {same:.0} | {to_same:.2} | {bare:.0} | {to_bare:.2} |"
            );
        }
    }
    let db = bare.client().database(DATABASE);
    for collection in [
        name.clone(),
        format!("{name}.versions"),
        format!("{name}_same"),
        format!("{name}_bare"),
    ] {
        db.collection::<Document>(&collection)
            .drop()
            .await
            .expect("drop");
    }
}

fn main() {
    let Some(url) = std::env::var("STORE_TEST_MONGODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("MongoDB skipped: set STORE_TEST_MONGODB_URL (for example with `just bench`)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| operation | tasks | store ops/s | raw, same operations ops/s | ratio | \
         raw, bare ops/s | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    runtime.block_on(run(&url));
}
