//! A bounded soak: 64 tasks run the session lifecycle web apps run
//! (create, then load + touch + save, sometimes logout) against one
//! backend, with a few hot keys that several tasks update at once. At the
//! end every session a task saw created and not deleted is read back with
//! its last acknowledged value, and the process's memory is compared
//! (where the data lives outside the process).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use store_core::{
    Bytes, Clock, ErrorKind, Expiry, Key, Owner, PutMode, PutOptions, Store, SystemClock,
};

use crate::faults::{Backend, Server};

/// Tasks running at once.
const TASKS: usize = 64;
/// Load + touch + save rounds per session.
const ROUNDS: usize = 20;
/// Keys every task also updates with compare-and-swap, to cause conflicts.
const HOT_KEYS: usize = 4;

fn soak_duration() -> Duration {
    let secs = std::env::var("STORE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// The resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Counts {
    ops: AtomicU64,
    sessions: AtomicU64,
    conflicts: AtomicU64,
    /// Hot-key increments the store acknowledged.
    bumps: AtomicU64,
}

/// What one task left behind: each live session's last acknowledged value.
type Ledger = HashMap<String, Vec<u8>>;

fn in_an_hour() -> Expiry {
    SystemClock
        .now()
        .checked_add(Duration::from_secs(3600))
        .expect("expiry")
}

pub(crate) async fn run(backend: Backend) {
    let Some(server) = Server::provision(backend).await else {
        return;
    };
    let store = server.open().await;
    for h in 0..HOT_KEYS {
        store
            .put(&hot(h), "0".into(), PutMode::Create.into())
            .await
            .expect("create the hot keys");
    }
    let duration = soak_duration();
    let counts = Arc::new(Counts::default());
    let rss_start = rss_kib();
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            let counts = counts.clone();
            tokio::spawn(async move { lifecycle(&*store, t, duration, &counts).await })
        })
        .collect();
    let mut ledger = Ledger::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.expect("soak task") {
            Ok(l) => ledger.extend(l),
            Err(e) => errors.push(e),
        }
    }
    let elapsed = started.elapsed();
    let rss_end = rss_kib();
    assert!(errors.is_empty(), "unexpected errors: {errors:?}");
    for (k, value) in &ledger {
        let e = store
            .get(&Key::new(k.as_str()).expect("key"))
            .await
            .expect("read back")
            .unwrap_or_else(|| panic!("{k} was acknowledged and never deleted, yet it is gone"));
        assert_eq!(
            &e.value[..],
            &value[..],
            "{k} lost its last acknowledged value"
        );
    }
    let mut hot_total = 0;
    for h in 0..HOT_KEYS {
        let e = store.get(&hot(h)).await.expect("read").expect("hot key");
        hot_total += std::str::from_utf8(&e.value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .expect("a number");
    }
    assert_eq!(
        hot_total,
        counts.bumps.load(Ordering::Relaxed),
        "the hot counters must total the acknowledged increments: none lost, none doubled"
    );
    let ops = counts.ops.load(Ordering::Relaxed);
    println!(
        "{backend:?} soak: {TASKS} tasks for {elapsed:.1?}: {ops} operations ({:.0}/s), {} \
         sessions, {} live at the end, all read back; {} conflicts; hot counters total \
         {hot_total}; RSS {} MiB at the start, {} MiB at the end",
        ops as f64 / elapsed.as_secs_f64(),
        counts.sessions.load(Ordering::Relaxed),
        ledger.len(),
        counts.conflicts.load(Ordering::Relaxed),
        rss_start / 1024,
        rss_end / 1024
    );
    // An in-process backend keeps every live session in this process, so
    // its growth is the data; elsewhere the process holds none of it.
    if !backend.in_process() {
        assert!(
            rss_end < rss_start + 256 * 1024,
            "memory grew from {rss_start} KiB to {rss_end} KiB"
        );
    }
}

fn hot(h: usize) -> Key {
    Key::new(format!("hot-{h}")).expect("key")
}

/// One task: sessions one after another until `duration` has passed.
async fn lifecycle(
    s: &dyn Store,
    t: usize,
    duration: Duration,
    counts: &Counts,
) -> Result<Ledger, String> {
    let started = Instant::now();
    let owner = Owner::new(format!("user-{}", t % 16)).expect("owner");
    let mut ledger = Ledger::new();
    let mut n = 0;
    while started.elapsed() < duration {
        // An in-process store answers without waiting, so a task would
        // keep its worker thread until its time is up and the others would
        // start late: give way once per session.
        tokio::task::yield_now().await;
        n += 1;
        let name = format!("sess-{t}-{n}");
        let k = Key::new(name.as_str()).expect("key");
        let mut value = format!("{name}:0").into_bytes();
        let opts = PutOptions::new(PutMode::Create)
            .owner(owner.clone())
            .expires_at(in_an_hour());
        let mut version = s
            .put(&k, Bytes::from(value.clone()), opts)
            .await
            .map_err(|e| format!("create {name}: {e}"))?
            .version;
        counts.sessions.fetch_add(1, Ordering::Relaxed);
        for round in 1..=ROUNDS {
            let e = s
                .get(&k)
                .await
                .map_err(|e| format!("load {name}: {e}"))?
                .ok_or_else(|| format!("{name} vanished"))?;
            if e.value[..] != value[..] || e.version != version {
                return Err(format!("{name} read back something else"));
            }
            s.touch(&k, in_an_hour())
                .await
                .map_err(|e| format!("touch {name}: {e}"))?;
            value = format!("{name}:{round}").into_bytes();
            let opts = PutOptions::new(PutMode::UpdateIf(version))
                .owner(owner.clone())
                .expires_at(in_an_hour());
            version = s
                .put(&k, Bytes::from(value.clone()), opts)
                .await
                .map_err(|e| format!("save {name}: {e}"))?
                .version;
            counts.ops.fetch_add(3, Ordering::Relaxed);
            if round % 5 == 0 {
                let h = rand::rng().random_range(0..HOT_KEYS);
                bump_hot(s, h, counts).await?;
            }
        }
        if n % 2 == 0 {
            // Logout: the session must stay gone.
            if !s
                .delete(&k, None)
                .await
                .map_err(|e| format!("delete {name}: {e}"))?
            {
                return Err(format!("{name} was not there to delete"));
            }
            counts.ops.fetch_add(1, Ordering::Relaxed);
        } else {
            ledger.insert(name, value);
        }
    }
    Ok(ledger)
}

/// One compare-and-swap increment of a hot key; a lost race is the
/// expected conflict and is counted.
async fn bump_hot(s: &dyn Store, h: usize, counts: &Counts) -> Result<(), String> {
    let k = hot(h);
    let e = s
        .get(&k)
        .await
        .map_err(|e| format!("hot get: {e}"))?
        .ok_or("a hot key vanished")?;
    let n: u64 = std::str::from_utf8(&e.value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or("a hot key is not a number")?;
    counts.ops.fetch_add(2, Ordering::Relaxed);
    match s
        .put(
            &k,
            Bytes::from((n + 1).to_string()),
            PutMode::UpdateIf(e.version).into(),
        )
        .await
    {
        Ok(_) => {
            counts.bumps.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::VersionMismatch => {
            counts.conflicts.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(format!("hot put: {e}")),
    }
}
