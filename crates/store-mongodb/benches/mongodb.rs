//! `MongoStore` next to raw driver calls on the same server and client, in
//! the same run: `get` and `put(Upsert)` with an expiry, from 1 and 16
//! concurrent tasks, with a 200-byte value.
//!
//! The raw side is the least a hand-written session store does with the
//! official driver: `find_one` by `_id`, and `replace_one` with `upsert` of
//! `{ _id, value, expires_at }`, on a collection of its own with the same
//! TTL index. It has no version, no owner and no expiry check on read, so
//! the ratio is what the contract and this crate's layer cost.
//!
//! The two sides take turns in short rounds (7 of 0.8 s, the other side
//! first every other round); a ratio is the median of the per-round
//! ratios, so drift on a busy machine hits both sides alike.
//!
//! ```text
//! STORE_TEST_MONGODB_URL=mongodb://127.0.0.1:27017/ cargo bench -p store-mongodb --bench mongodb
//! ```
//! (`just bench` starts a server and runs it.) Prints a markdown table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    Raw(Collection<Document>),
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
            (Side::Raw(c), Op::Get) => {
                let found = c
                    .find_one(doc! { "_id": key.as_str() })
                    .await
                    .expect("find_one");
                assert!(found.is_some(), "bench key missing");
            }
            (Side::Raw(c), Op::Upsert) => {
                let document = doc! {
                    "_id": key.as_str(),
                    "value": Binary { subtype: BinarySubtype::Generic, bytes: value.to_vec() },
                    "expires_at": DateTime::from_millis(expiry().as_unix_millis()),
                };
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
    let raw = store
        .collection()
        .client()
        .database(DATABASE)
        .collection::<Document>(&format!("{name}_raw"));
    let ttl = IndexModel::builder()
        .keys(doc! { "expires_at": 1 })
        .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
        .build();
    raw.create_index(ttl).await.expect("raw TTL index");
    let sides = [Side::Store(Arc::new(store.clone())), Side::Raw(raw.clone())];

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
            let mut rates: [Vec<f64>; 2] = Default::default();
            for round in 0..ROUNDS {
                for i in 0..2 {
                    let i = (i + round) % 2;
                    rates[i].push(ops_per_sec(&sides[i], op, tasks).await);
                }
            }
            let ratio = median(rates[0].iter().zip(&rates[1]).map(|(a, b)| a / b).collect());
            let [ours, theirs] = rates.map(median);
            println!("| {label} | {tasks} | {ours:.0} | {theirs:.0} | {ratio:.2} |");
        }
    }
    store.collection().drop().await.expect("drop");
    raw.drop().await.expect("drop raw");
    let counters = format!("{name}.versions");
    raw.client()
        .database(DATABASE)
        .collection::<Document>(&counters)
        .drop()
        .await
        .expect("drop counters");
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
    println!("| operation | tasks | store ops/s | raw driver ops/s | ratio |");
    println!("|---|---:|---:|---:|---:|");
    runtime.block_on(run(&url));
}
