//! `RedisStore` next to raw `redis` crate calls on the same server, in the
//! same run: `get` vs `GET`, `put(Upsert)` with an expiry vs `SET … PX`, from
//! 1 and 32 concurrent tasks, with a 200-byte value. Both sides use the
//! same kind of connection (one multiplexed `ConnectionManager` shared by
//! the tasks), and run in alternating rounds so that drift hits both alike.
//! A third contender, a Lua script whose only call is the same `SET … PX`,
//! shows the least any atomic server-side write costs on that server.
//!
//! ```text
//! STORE_TEST_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p store-redis --bench redis
//! ```
//! (`just bench` starts a server and runs it.) Prints a markdown table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::ConnectionManager;
use store_core::{Clock, Key, PutMode, PutOptions, Store, SystemClock};
use store_redis::RedisStore;

const KEYS_PER_TASK: usize = 1024;
const VALUE_LEN: usize = 200;
const ROUND: Duration = Duration::from_millis(1500);
const ROUNDS: usize = 3;
const TTL: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Upsert,
}

#[derive(Clone)]
enum Contender {
    Store(RedisStore),
    Raw(ConnectionManager),
    /// The least any atomic server-side write costs: one Lua script whose
    /// only call is that `SET … PX` (puts only).
    RawScript(ConnectionManager, Arc<redis::Script>),
}

const ONE_SET_SCRIPT: &str = "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])";

impl Contender {
    fn key_name(&self, task: usize, i: usize) -> String {
        match self {
            Contender::Store(_) => format!("t{task}:k{i}"),
            Contender::Raw(_) | Contender::RawScript(..) => format!("bench-raw:t{task}:k{i}"),
        }
    }

    async fn run(&mut self, op: Op, name: &str, key: &Key, value: &Bytes) {
        match self {
            Contender::Store(store) => match op {
                Op::Get => {
                    let entry = store.get(key).await.expect("get");
                    assert!(entry.is_some(), "bench key missing");
                }
                Op::Upsert => {
                    let expires = SystemClock.now().checked_add(TTL).expect("expiry");
                    let opts = PutOptions::new(PutMode::Upsert).expires_at(expires);
                    store.put(key, value.clone(), opts).await.expect("put");
                }
            },
            Contender::RawScript(conn, script) => {
                assert!(op == Op::Upsert, "the script contender only writes");
                let _: () = script
                    .key(name)
                    .arg(&value[..])
                    .arg(TTL.as_millis() as u64)
                    .invoke_async(conn)
                    .await
                    .expect("EVALSHA");
            }
            Contender::Raw(conn) => match op {
                Op::Get => {
                    let v: Option<Vec<u8>> = redis::cmd("GET")
                        .arg(name)
                        .query_async(conn)
                        .await
                        .expect("GET");
                    assert!(v.is_some(), "bench key missing");
                }
                Op::Upsert => {
                    let _: () = redis::cmd("SET")
                        .arg(name)
                        .arg(&value[..])
                        .arg("PX")
                        .arg(TTL.as_millis() as u64)
                        .query_async(conn)
                        .await
                        .expect("SET");
                }
            },
        }
    }
}

/// Ops per second of `tasks` tasks doing `op` for one round.
async fn measure(contender: &Contender, op: Op, tasks: usize) -> f64 {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for task in 0..tasks {
        let mut contender = contender.clone();
        let (stop, count, value) = (stop.clone(), count.clone(), value.clone());
        handles.push(tokio::spawn(async move {
            let names: Vec<String> = (0..KEYS_PER_TASK)
                .map(|i| contender.key_name(task, i))
                .collect();
            let keys: Vec<Key> = names.iter().map(|n| Key::new(n).expect("key")).collect();
            let mut done = 0u64;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                contender.run(op, &names[i], &keys[i], &value).await;
                i = (i + 1) % KEYS_PER_TASK;
                done += 1;
            }
            count.fetch_add(done, Ordering::Relaxed);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.expect("task");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Writes every key both contenders read, with the same value.
async fn preload(contender: &Contender, tasks: usize) {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let mut c = contender.clone();
    for task in 0..tasks {
        for i in 0..KEYS_PER_TASK {
            let name = c.key_name(task, i);
            c.run(Op::Upsert, &name, &Key::new(&name).expect("key"), &value)
                .await;
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let Ok(url) = std::env::var("STORE_TEST_REDIS_URL") else {
        eprintln!(
            "skipped: set STORE_TEST_REDIS_URL (for example with `just bench`, which starts a server)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let prefix = format!("bench-{}", std::process::id());
        let store = RedisStore::connect(&url)
            .await
            .expect("connect")
            .with_prefix(&prefix)
            .expect("prefix");
        let client = redis::Client::open(url.as_str()).expect("client");
        let raw = ConnectionManager::new(client).await.expect("raw connection");
        let ours = Contender::Store(store);
        let floor = Contender::Raw(raw.clone());
        let lua_floor = Contender::RawScript(raw, Arc::new(redis::Script::new(ONE_SET_SCRIPT)));
        preload(&ours, 32).await;
        preload(&floor, 32).await;

        println!(
            "| operation | tasks | RedisStore ops/s | raw redis ops/s | ratio | raw one-SET Lua script ops/s | ratio to it |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (op, name) in [(Op::Get, "get vs GET"), (Op::Upsert, "put(Upsert) vs SET PX")] {
            for tasks in [1, 32] {
                let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    // Alternate who goes first.
                    if round % 2 == 0 {
                        a.push(measure(&ours, op, tasks).await);
                        b.push(measure(&floor, op, tasks).await);
                    } else {
                        b.push(measure(&floor, op, tasks).await);
                        a.push(measure(&ours, op, tasks).await);
                    }
                    if op == Op::Upsert {
                        c.push(measure(&lua_floor, op, tasks).await);
                    }
                }
                let (a, b) = (median(a), median(b));
                let (lua, lua_ratio) = if c.is_empty() {
                    ("n/a".to_owned(), "n/a".to_owned())
                } else {
                    let c = median(c);
                    (format!("{c:.0}"), format!("{:.2}", a / c))
                };
                println!(
                    "| {name} | {tasks} | {a:.0} | {b:.0} | {:.2} | {lua} | {lua_ratio} |",
                    a / b
                );
            }
        }
    });
}
