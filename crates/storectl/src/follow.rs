//! `storectl copy --follow`: after the copy, passes over the whole source
//! keep the destination in step with it until SIGINT or SIGTERM.
//!
//! Each pass scans the source namespace and compares every entry with what
//! the destination was last given (the [`Snapshot`]): an entry created or
//! changed since is written with `Upsert`, a key that is gone (deleted or
//! expired) is deleted at the destination. Nothing is read from the
//! destination, so a pass costs one scan of the source plus one write per
//! change.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use store::{Entry, Expiry, Key, Owner, Store, Version};

use crate::copy::{Item, WriteCounts, WriteMode, write_batch_naming_expired};
use crate::fail::{Failure, Outcome};
use crate::open::Scanner;

/// How many times the last pass, after a signal, is tried when it fails
/// with a retryable error.
const LAST_PASS_ATTEMPTS: u32 = 3;

/// What a pass compares of an entry. A write at the source gives it a new
/// version; `touch` moves its expiry and keeps the version, so the expiry
/// is compared too (and the owner, which only a write changes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    version: Version,
    expires_at: Option<Expiry>,
    owner: Option<Owner>,
}

impl Seen {
    fn of(entry: &Entry) -> Self {
        Self {
            version: entry.version,
            expires_at: entry.expires_at,
            owner: entry.owner.clone(),
        }
    }
}

/// One key the destination was given.
#[derive(Debug)]
struct Known {
    seen: Seen,
    /// The last pass that found the key at the source.
    pass: u64,
}

/// What the destination was last given, by key: each source entry as the
/// copy or the last pass read it. Held in memory only, about a hundred
/// bytes plus the key and owner per entry.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    known: HashMap<Key, Known>,
    /// The pass under way; 0 is the copy.
    pass: u64,
}

impl Snapshot {
    /// Records the entries of a page the copy is about to write. An entry
    /// the destination then keeps (it had the key already) or refuses is
    /// recorded all the same: it is written again only when it changes
    /// at the source.
    pub(crate) fn record(&mut self, page: &[(Key, Entry)]) {
        for (key, entry) in page {
            self.remember(key.clone(), Seen::of(entry));
        }
    }

    fn remember(&mut self, key: Key, seen: Seen) {
        let pass = self.pass;
        self.known.insert(key, Known { seen, pass });
    }

    /// Whether the destination was given `entry` as it is; if so, the key
    /// counts as found by this pass.
    fn unchanged(&mut self, key: &Key, entry: &Entry) -> bool {
        match self.known.get_mut(key) {
            Some(known) if known.seen == Seen::of(entry) => {
                known.pass = self.pass;
                true
            }
            _ => false,
        }
    }

    /// The keys this pass did not find at the source.
    fn missing(&self) -> Vec<Key> {
        self.known
            .iter()
            .filter(|(_, known)| known.pass != self.pass)
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
struct PassCounts {
    /// Live entries at the source.
    live: u64,
    /// Entries created or changed at the source and written.
    written: u64,
    /// Keys deleted at the destination because they are gone at the source.
    deleted: u64,
    /// Changed entries not written because they had expired meanwhile.
    expired: u64,
    /// Changed entries the destination refused (each named in a warning).
    rejected: u64,
}

impl PassCounts {
    fn add_writes(&mut self, counts: &WriteCounts) {
        // `Upsert` never meets an existing entry: `counts.existing` is 0.
        self.written += counts.written;
        self.expired += counts.expired;
        self.rejected += counts.rejected;
    }

    fn changed(&self) -> bool {
        self.written + self.deleted + self.expired + self.rejected > 0
    }
}

/// What every pass did, for the summary.
#[derive(Debug, Default)]
struct Totals {
    passes: u64,
    failed: u64,
    written: u64,
    deleted: u64,
    expired: u64,
    rejected: u64,
    last: Option<(Duration, u64)>,
    longest: Duration,
}

/// Where a follow copies from and to, and how.
#[derive(Debug)]
pub(crate) struct Follow<'a> {
    /// The source store.
    pub(crate) source: &'a dyn Store,
    /// The destination store.
    pub(crate) dest: &'a dyn Store,
    /// Entries read per page of a source scan.
    pub(crate) batch: usize,
    /// Reads or writes in flight at once.
    pub(crate) concurrency: usize,
    /// The pause between the end of a pass and the start of the next.
    pub(crate) interval: Duration,
    /// The source and the destination as shown (passwords masked).
    pub(crate) shown: (String, String),
}

/// Follows the source until SIGINT or SIGTERM, then runs one last pass and
/// prints a summary. `rejected_before` is what the copy had refused: the
/// exit code is 1 when the destination refused any entry.
///
/// A pass that fails with a retryable error is reported and run again after
/// the interval; any other error ends the follow with it.
pub(crate) async fn run(follow: Follow<'_>, snapshot: Snapshot, rejected_before: u64) -> Outcome {
    let mut signals = Signals::install()?;
    let mut follower = Follower {
        follow: &follow,
        snapshot,
        totals: Totals::default(),
    };
    eprintln!(
        "storectl: following {} -> {}: a pass every {} ({} keys known); stop with Ctrl-C or \
         SIGTERM",
        follow.shown.0,
        follow.shown.1,
        humantime::format_duration(follow.interval),
        follower.snapshot.known.len()
    );
    let started = Instant::now();
    let signal = loop {
        follower.pass().await?;
        tokio::select! {
            biased;
            signal = signals.next() => break signal,
            () = tokio::time::sleep(follow.interval) => {}
        }
    };
    eprintln!("storectl: {signal}: running one last pass");
    let mut attempt = 1;
    loop {
        let done = tokio::select! {
            done = follower.pass() => done?,
            again = signals.next() => {
                return Err(Failure::failed(format!(
                    "stopped by {again} during the last pass"
                ))
                .hint("the destination may lack the source's latest changes"));
            }
        };
        if done {
            break;
        }
        if attempt == LAST_PASS_ATTEMPTS {
            return Err(Failure::failed(format!(
                "the last pass failed {LAST_PASS_ATTEMPTS} times (see the warnings above)"
            ))
            .hint("the destination may lack the source's latest changes"));
        }
        attempt += 1;
        tokio::time::sleep(follow.interval).await;
    }
    let totals = &follower.totals;
    let (last_took, live) = totals.last.unwrap_or_default();
    println!(
        "followed for {:.1} s: {} passes ({} failed and run again), the last one {} ms over {} \
         live entries, the longest {} ms; written: {}, deleted: {}, skipped expired: {}, \
         rejected: {}",
        started.elapsed().as_secs_f64(),
        totals.passes,
        totals.failed,
        last_took.as_millis(),
        live,
        totals.longest.as_millis(),
        totals.written,
        totals.deleted,
        totals.expired,
        totals.rejected
    );
    let rejected = rejected_before + totals.rejected;
    if rejected > 0 {
        return Err(Failure::failed(format!(
            "{rejected} entries were refused by the destination (see the warnings above)"
        )));
    }
    Ok(())
}

/// The passes of one follow and what they know.
struct Follower<'a> {
    follow: &'a Follow<'a>,
    snapshot: Snapshot,
    totals: Totals,
}

impl Follower<'_> {
    /// Runs one pass and reports it: `Ok(true)` when it completed,
    /// `Ok(false)` when it failed with a retryable error (reported as a
    /// warning).
    async fn pass(&mut self) -> Outcome<bool> {
        let started = Instant::now();
        let result = self.pass_once().await;
        let took = started.elapsed();
        let number = self.snapshot.pass;
        match result {
            Ok(counts) => {
                let t = &mut self.totals;
                t.passes += 1;
                t.written += counts.written;
                t.deleted += counts.deleted;
                t.expired += counts.expired;
                t.rejected += counts.rejected;
                t.last = Some((took, counts.live));
                t.longest = t.longest.max(took);
                if counts.changed() {
                    let mut line = format!(
                        "storectl: pass {number}: written {}, deleted {}",
                        counts.written, counts.deleted
                    );
                    if counts.expired > 0 {
                        line += &format!(", skipped expired {}", counts.expired);
                    }
                    if counts.rejected > 0 {
                        line += &format!(", rejected {}", counts.rejected);
                    }
                    eprintln!(
                        "{line} in {} ms ({} live entries)",
                        took.as_millis(),
                        counts.live
                    );
                }
                Ok(true)
            }
            Err(failure) if failure.is_retryable() => {
                self.totals.failed += 1;
                eprintln!(
                    "storectl: warning: pass {number} failed after {} ms, run again in {}: \
                     {failure}",
                    took.as_millis(),
                    humantime::format_duration(self.follow.interval)
                );
                Ok(false)
            }
            Err(failure) => Err(failure),
        }
    }

    /// One scan of the whole source: writes what is new or changed since
    /// the destination was last given it, then deletes at the destination
    /// what the scan did not find and a read of the key confirms is gone.
    ///
    /// A pass that stops half-way leaves the snapshot right for the next
    /// one: a key is recorded only once its write or delete succeeded, and
    /// keys are deleted only after a complete scan.
    async fn pass_once(&mut self) -> Outcome<PassCounts> {
        let follow = self.follow;
        self.snapshot.pass += 1;
        let mut counts = PassCounts::default();
        let mut scan = Scanner::new(follow.source, None, follow.batch);
        while let Some(page) = scan.next_page().await.map_err(|f| f.prefixed("source"))? {
            counts.live += page.len() as u64;
            let changed = page
                .into_iter()
                .filter(|(key, entry)| !self.snapshot.unchanged(key, entry))
                .collect();
            self.write(changed, &mut counts).await?;
        }
        // A scan may miss an entry changed while it runs: the source
        // decides, key by key, whether a missing one is gone.
        let missing = self.snapshot.missing();
        for keys in missing.chunks(follow.batch) {
            let found: Vec<Outcome<(Key, Option<Entry>)>> = stream::iter(keys)
                .map(|key| async move {
                    match follow.source.get(key).await {
                        Ok(entry) => Ok((key.clone(), entry)),
                        Err(e) => Err(Failure::store("cannot read the source", &e)),
                    }
                })
                .buffer_unordered(follow.concurrency)
                .collect()
                .await;
            let mut changed = Vec::new();
            let mut gone = Vec::new();
            for result in found {
                match result? {
                    (key, Some(entry)) => {
                        counts.live += 1;
                        if !self.snapshot.unchanged(&key, &entry) {
                            changed.push((key, entry));
                        }
                    }
                    (key, None) => gone.push(key),
                }
            }
            self.write(changed, &mut counts).await?;
            self.delete(gone, &mut counts).await?;
        }
        Ok(counts)
    }

    /// Writes `entries` over whatever the destination holds and records
    /// them. An entry that expired before its write is deleted at the
    /// destination instead: the destination may hold an older state of it
    /// (an entry the source shortened and then let expire), which must not
    /// outlive it.
    async fn write(&mut self, entries: Vec<(Key, Entry)>, counts: &mut PassCounts) -> Outcome {
        if entries.is_empty() {
            return Ok(());
        }
        let seen: Vec<(Key, Seen)> = entries
            .iter()
            .map(|(key, entry)| (key.clone(), Seen::of(entry)))
            .collect();
        let items = entries
            .into_iter()
            .map(|(key, entry)| Item::of(key, entry))
            .collect();
        let (written, expired) = write_batch_naming_expired(
            self.follow.dest,
            items,
            WriteMode::Overwrite,
            self.follow.concurrency,
        )
        .await?;
        counts.add_writes(&written);
        for (key, seen) in seen {
            self.snapshot.remember(key, seen);
        }
        self.delete(expired, counts).await
    }

    /// Deletes `keys` at the destination, whatever it holds under them,
    /// and forgets them.
    async fn delete(&mut self, keys: Vec<Key>, counts: &mut PassCounts) -> Outcome {
        let dest = self.follow.dest;
        let results: Vec<Outcome<Key>> = stream::iter(keys)
            .map(|key| async move {
                match dest.delete(&key, None).await {
                    Ok(_) => Ok(key),
                    Err(e) => Err(Failure::store("cannot delete at the destination", &e)),
                }
            })
            .buffer_unordered(self.follow.concurrency)
            .collect()
            .await;
        let mut first_failure = None;
        for result in results {
            match result {
                Ok(key) => {
                    self.snapshot.known.remove(&key);
                    counts.deleted += 1;
                }
                Err(failure) => {
                    first_failure.get_or_insert(failure);
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

/// The signals that stop a follow: SIGINT (Ctrl-C) and SIGTERM; Ctrl-C
/// where there are no Unix signals.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening: from now on these signals no longer end the
    /// process, [`Signals::next`] reports them.
    fn install() -> Outcome<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let fail =
                |e: std::io::Error| Failure::failed(format!("cannot listen for signals: {e}"));
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).map_err(fail)?,
                terminate: signal(SignalKind::terminate()).map_err(fail)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next signal (one received since the last call counts)
    /// and names it.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Clock, PutMode, PutOptions, SystemClock};

    fn in_ms(ms: u64) -> Expiry {
        SystemClock
            .now()
            .checked_add(Duration::from_millis(ms))
            .expect("an expiry")
    }

    /// The source shortens an entry and it expires before the pass writes
    /// it: the destination must not keep the older, longer-lived state.
    #[tokio::test]
    async fn an_entry_that_expires_before_its_write_is_deleted_at_the_destination() {
        let source = store::open("memory://").await.expect("source");
        let dest = store::open("memory://").await.expect("destination");
        let key = Key::new("session").expect("a key");
        let hour = PutOptions::new(PutMode::Upsert).expires_at(in_ms(3_600_000));
        dest.put(&key, "as copied".into(), hour)
            .await
            .expect("the copy's write");
        let short = PutOptions::new(PutMode::Upsert).expires_at(in_ms(50));
        source
            .put(&key, "shortened".into(), short)
            .await
            .expect("the source's write");
        let entry = source.get(&key).await.expect("read").expect("live");
        tokio::time::sleep(Duration::from_millis(100)).await;

        let follow = Follow {
            source: &*source,
            dest: &*dest,
            batch: 10,
            concurrency: 2,
            interval: Duration::from_millis(100),
            shown: ("memory://".into(), "memory://".into()),
        };
        let mut follower = Follower {
            follow: &follow,
            snapshot: Snapshot::default(),
            totals: Totals::default(),
        };
        let mut counts = PassCounts::default();
        follower
            .write(vec![(key.clone(), entry)], &mut counts)
            .await
            .expect("the pass's write");
        assert!(dest.get(&key).await.expect("read").is_none());
        assert_eq!((counts.written, counts.expired, counts.deleted), (0, 1, 1));
        assert!(follower.snapshot.known.is_empty());
    }
}
