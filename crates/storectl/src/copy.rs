//! `storectl copy`: every live entry from one store to another, resumable,
//! then checked at the destination; with `--follow`, kept in step with the
//! source afterwards (see [`crate::follow`]).

use std::path::Path;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use store::{
    Bytes, Clock, Entry, ErrorKind, Expiry, Key, MAX_SCAN_LIMIT, Owner, PutMode, PutOptions,
    ScanCursor, Store, SystemClock,
};

use crate::cli::CopyArgs;
use crate::fail::{Failure, Outcome};
use crate::follow::{self, Follow, Snapshot};
use crate::open::{Scanner, describe, open};
use crate::progress;

/// An entry to write: what a copy or an import carries over. Versions are
/// not: the destination gives each write a new one.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) key: Key,
    pub(crate) value: Bytes,
    pub(crate) expires_at: Option<Expiry>,
    pub(crate) owner: Option<Owner>,
}

impl Item {
    /// The entry `entry` under `key`, to write elsewhere.
    pub(crate) fn of(key: Key, entry: Entry) -> Self {
        Self {
            key,
            value: entry.value,
            expires_at: entry.expires_at,
            owner: entry.owner,
        }
    }
}

/// What to do with a key that already has a live entry at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Leave it (`Create`): a newer entry at the destination wins, and a
    /// resumed copy does not write anything twice.
    KeepExisting,
    /// Replace it (`Upsert`).
    Overwrite,
}

/// How a batch of writes went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WriteCounts {
    /// Entries written.
    pub(crate) written: u64,
    /// Entries left alone because the destination already had the key.
    pub(crate) existing: u64,
    /// Entries not written because they had expired.
    pub(crate) expired: u64,
    /// Entries the destination refused (for example a value over its size
    /// limit); each is named in a warning.
    pub(crate) rejected: u64,
}

impl WriteCounts {
    pub(crate) fn add(&mut self, other: &Self) {
        self.written += other.written;
        self.existing += other.existing;
        self.expired += other.expired;
        self.rejected += other.rejected;
    }

    fn total(&self) -> u64 {
        self.written + self.existing + self.expired + self.rejected
    }
}

/// How far ahead of ours a destination's clock may run: an entry that
/// expires within this margin and is refused for its expiry counts as
/// expired, not rejected.
const CLOCK_MARGIN: Duration = Duration::from_secs(5);

enum Fate {
    Written,
    Existing,
    /// Not written: the entry under this key had expired.
    Expired(Key),
    Rejected,
}

/// Writes `items` with up to `concurrency` writes in flight. An entry that
/// has expired is never written (no resurrection). A server or backend
/// error stops the batch with that error.
pub(crate) async fn write_batch(
    store: &dyn Store,
    items: Vec<Item>,
    mode: WriteMode,
    concurrency: usize,
) -> Outcome<WriteCounts> {
    let (counts, _) = write_batch_naming_expired(store, items, mode, concurrency).await?;
    Ok(counts)
}

/// As [`write_batch`], and names the keys of the entries it did not write
/// because they had expired: whatever the destination holds under them is
/// older than the source's state.
pub(crate) async fn write_batch_naming_expired(
    store: &dyn Store,
    items: Vec<Item>,
    mode: WriteMode,
    concurrency: usize,
) -> Outcome<(WriteCounts, Vec<Key>)> {
    let put_mode = match mode {
        WriteMode::KeepExisting => PutMode::Create,
        WriteMode::Overwrite => PutMode::Upsert,
    };
    let results: Vec<Outcome<Fate>> = stream::iter(items)
        .map(|item| async move {
            let now = SystemClock.now();
            if item.expires_at.is_some_and(|e| e.is_expired_at(now)) {
                return Ok(Fate::Expired(item.key));
            }
            let mut options = PutOptions::new(put_mode);
            options.expires_at = item.expires_at;
            options.owner = item.owner.clone();
            match store.put(&item.key, item.value, options).await {
                Ok(_) => Ok(Fate::Written),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Fate::Existing),
                Err(e) if e.kind() == ErrorKind::InvalidInput => {
                    let soon = SystemClock.now().checked_add(CLOCK_MARGIN).unwrap_or(now);
                    if item.expires_at.is_some_and(|exp| exp.is_expired_at(soon)) {
                        Ok(Fate::Expired(item.key))
                    } else {
                        eprintln!(
                            "storectl: warning: the destination refused {:?}: {e}",
                            item.key.as_str()
                        );
                        Ok(Fate::Rejected)
                    }
                }
                Err(e) => Err(Failure::store("cannot write to the destination", &e)),
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut counts = WriteCounts::default();
    let mut expired = Vec::new();
    for result in results {
        match result? {
            Fate::Written => counts.written += 1,
            Fate::Existing => counts.existing += 1,
            Fate::Expired(key) => {
                counts.expired += 1;
                expired.push(key);
            }
            Fate::Rejected => counts.rejected += 1,
        }
    }
    Ok((counts, expired))
}

/// The progress of a copy, saved after every batch.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// The source, password masked: a state file resumes only the copy it
    /// was written for.
    from: String,
    /// The destination, password masked.
    to: String,
    /// Where the source scan goes on.
    cursor: Option<String>,
    /// Every batch is written; only the check is left.
    #[serde(default)]
    finished: bool,
    counts: WriteCounts,
    /// Expired and undecodable entries the source scan passed over so far.
    #[serde(default)]
    source_expired: u64,
    #[serde(default)]
    source_unreadable: u64,
}

fn load_state(path: &Path) -> Outcome<Option<State>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::usage(format!(
                "the state file {} is not a copy state: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::usage(format!(
            "cannot read the state file {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the state beside its final place, then renames it over, so a
/// crash leaves the old state or the new one, never half of one.
fn save_state(path: &Path, state: &State) -> Outcome {
    let fail = |e: std::io::Error| {
        Failure::failed(format!(
            "cannot save the state file {}: {e}",
            path.display()
        ))
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// `storectl copy`.
pub(crate) async fn run(args: &CopyArgs) -> Outcome {
    if args.batch == 0 || args.batch > MAX_SCAN_LIMIT {
        return Err(Failure::usage(format!(
            "--batch must be between 1 and {MAX_SCAN_LIMIT}"
        )));
    }
    if args.concurrency == 0 {
        return Err(Failure::usage("--concurrency must be at least 1"));
    }
    let from_shown = describe(&args.from, args.from_namespace.as_deref());
    let to_shown = describe(&args.to, args.to_namespace.as_deref());
    if from_shown == to_shown {
        return Err(Failure::usage(
            "the source and the destination are the same store",
        ));
    }
    let source = open(&args.from, args.from_namespace.as_deref(), false, None)
        .await
        .map_err(|f| f.prefixed("source"))?;
    let dest = open(&args.to, args.to_namespace.as_deref(), !args.dry_run, None)
        .await
        .map_err(|f| f.prefixed("destination"))?;
    let mode = match args.overwrite {
        true => WriteMode::Overwrite,
        false => WriteMode::KeepExisting,
    };

    // A dry run reads the whole source and never a state file.
    let resumed = match (&args.state, args.dry_run) {
        (Some(path), false) => load_state(path)?,
        _ => None,
    };
    if let Some(state) = &resumed {
        if state.from != from_shown || state.to != to_shown {
            return Err(Failure::usage(format!(
                "the state file was written for a copy from {} to {}",
                state.from, state.to
            ))
            .hint("pass another --state file, or remove this one to start over"));
        }
    }
    let start = resumed
        .as_ref()
        .and_then(|s| s.cursor.clone())
        .map(ScanCursor::new);
    let mut counts = resumed.as_ref().map(|s| s.counts).unwrap_or_default();
    let finished = resumed.as_ref().is_some_and(|s| s.finished);
    let written_before = counts.written;
    let (expired_before, unreadable_before) = resumed
        .as_ref()
        .map_or((0, 0), |s| (s.source_expired, s.source_unreadable));

    println!("copying {from_shown} -> {to_shown}");
    if finished {
        println!("the state file says every batch was written; checking the destination");
    } else if resumed.is_some() {
        println!(
            "resuming after {} entries (state file {})",
            counts.total(),
            args.state
                .as_deref()
                .map(Path::display)
                .unwrap_or_else(|| Path::new("").display())
        );
    }
    let total = count_live(&*source).await?;
    println!("source: {total} live entries");

    let started = Instant::now();
    let bar = progress::bar(total, counts.total(), "copying");
    let mut scan = Scanner::new(&*source, start, args.batch);
    let mut existing_seen = 0u64;
    // With --follow, what the destination is given, for the passes.
    let mut snapshot = args.follow.then(Snapshot::default);
    let mut page = match finished {
        true => None,
        false => scan.next_page().await?,
    };
    while let Some(current) = page {
        let n = current.len() as u64;
        // The position after `current`, saved once it is written.
        let position = scan.cursor().map(|c| c.as_str().to_owned());
        let done = position.is_none();
        if args.dry_run {
            existing_seen += count_existing(&*dest, &current, args.concurrency).await?;
            page = scan.next_page().await?;
            bar.inc(n);
            continue;
        }
        if let Some(snapshot) = &mut snapshot {
            snapshot.record(&current);
        }
        // Read the next page while this one is written.
        let items = current.into_iter().map(|(k, e)| Item::of(k, e)).collect();
        let (next, written) = tokio::join!(
            scan.next_page(),
            write_batch(&*dest, items, mode, args.concurrency)
        );
        let written = written.map_err(|failure| {
            bar.abandon();
            resume_hint(failure, args.state.is_some())
        })?;
        counts.add(&written);
        if let Some(path) = &args.state {
            let state = State {
                from: from_shown.clone(),
                to: to_shown.clone(),
                cursor: position,
                finished: done,
                counts,
                source_expired: expired_before + scan.totals.expired,
                source_unreadable: unreadable_before + scan.totals.unreadable,
            };
            save_state(path, &state)?;
        }
        bar.inc(n);
        page = next.map_err(|failure| {
            bar.abandon();
            resume_hint(failure, args.state.is_some())
        })?;
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    if args.dry_run {
        println!(
            "dry run: would copy {} entries; {existing_seen} of them already exist at the \
             destination and would be {}; nothing written",
            total,
            match mode {
                WriteMode::KeepExisting => "kept",
                WriteMode::Overwrite => "replaced",
            }
        );
        return Ok(());
    }
    // A copy with refused entries keeps its state file: run again, it goes
    // straight to the check.
    if let (Some(path), 0) = (&args.state, counts.rejected) {
        if let Err(e) = std::fs::remove_file(path) {
            eprintln!(
                "storectl: warning: cannot remove the state file {}: {e}",
                path.display()
            );
        }
    }
    let this_run = counts.written - written_before;
    let total_note = match resumed.is_some() {
        true => format!(" ({this_run} in this run)"),
        false => String::new(),
    };
    println!(
        "copied {} entries{total_note} in {:.1} s ({:.0} entries/s); kept existing: {}, \
         skipped expired: {}, rejected: {}, unreadable at the source: {}",
        counts.written,
        elapsed.as_secs_f64(),
        this_run as f64 / elapsed.as_secs_f64().max(1e-3),
        counts.existing,
        counts.expired + expired_before + scan.totals.expired,
        counts.rejected,
        unreadable_before + scan.totals.unreadable
    );
    if let Some(snapshot) = snapshot {
        if counts.existing > 0 {
            eprintln!(
                "storectl: warning: {} entries already at the destination were kept; each is \
                 replaced when it changes at the source (--overwrite replaces them now)",
                counts.existing
            );
        }
        let follow = Follow {
            source: &*source,
            dest: &*dest,
            batch: args.batch,
            concurrency: args.concurrency,
            interval: args.interval,
            shown: (from_shown, to_shown),
        };
        return follow::run(follow, snapshot, counts.rejected).await;
    }
    if counts.rejected > 0 {
        return Err(Failure::failed(format!(
            "{} entries were refused by the destination (see the warnings above)",
            counts.rejected
        )));
    }
    if args.no_verify {
        return Ok(());
    }
    verify(&*source, &*dest, args.batch, args.concurrency).await
}

/// Tells how to go on after a copy stopped on `failure`.
fn resume_hint(failure: Failure, with_state: bool) -> Failure {
    match with_state {
        true => failure
            .hint("run the same command again: the copy resumes after the last complete batch"),
        false => failure.hint("run it again with --state FILE to resume after an interruption"),
    }
}

/// Counts the live entries of `store` (one scan).
async fn count_live(store: &dyn Store) -> Outcome<u64> {
    let counter = progress::counter("counting the source");
    let mut scan = Scanner::new(store, None, MAX_SCAN_LIMIT);
    let mut total = 0u64;
    while let Some(page) = scan.next_page().await? {
        total += page.len() as u64;
        counter.inc(page.len() as u64);
    }
    counter.finish_and_clear();
    Ok(total)
}

/// How many keys of `page` the destination already holds (dry run). A
/// destination without its table yet holds none.
async fn count_existing(
    dest: &dyn Store,
    page: &[(Key, Entry)],
    concurrency: usize,
) -> Outcome<u64> {
    let found: Vec<Outcome<bool>> = stream::iter(page)
        .map(|(key, _)| async move {
            match dest.get(key).await {
                Ok(entry) => Ok(entry.is_some()),
                Err(e) if e.kind() == ErrorKind::Config => Ok(false),
                Err(e) => Err(Failure::store("cannot read the destination", &e)),
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut n = 0;
    for f in found {
        n += u64::from(f?);
    }
    Ok(n)
}

enum Check {
    Equal,
    Missing,
    Different,
}

/// Reads every live source entry back from the destination and compares
/// value, expiry and owner.
async fn verify(source: &dyn Store, dest: &dyn Store, batch: usize, concurrency: usize) -> Outcome {
    let bar = progress::counter("verifying");
    let mut scan = Scanner::new(source, None, batch);
    let (mut equal, mut missing, mut different) = (0u64, 0u64, 0u64);
    let mut shown = 0;
    while let Some(page) = scan.next_page().await? {
        let checks: Vec<Outcome<(Check, Key)>> = stream::iter(page)
            .map(|(key, entry)| async move {
                let found = dest
                    .get(&key)
                    .await
                    .map_err(|e| Failure::store("cannot read the destination", &e))?;
                let check = match found {
                    None if entry
                        .expires_at
                        .is_some_and(|e| e.is_expired_at(SystemClock.now())) =>
                    {
                        Check::Equal
                    }
                    None => Check::Missing,
                    Some(d)
                        if d.value == entry.value
                            && d.expires_at == entry.expires_at
                            && d.owner == entry.owner =>
                    {
                        Check::Equal
                    }
                    Some(_) => Check::Different,
                };
                Ok((check, key))
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for check in checks {
            let (check, key) = check?;
            match check {
                Check::Equal => equal += 1,
                Check::Missing | Check::Different => {
                    let what = match check {
                        Check::Missing => {
                            missing += 1;
                            "missing at"
                        }
                        _ => {
                            different += 1;
                            "different at"
                        }
                    };
                    if shown < 10 {
                        eprintln!("storectl: {:?} is {what} the destination", key.as_str());
                        shown += 1;
                    }
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    println!(
        "verified: {equal} entries equal at the destination, {missing} missing, {different} \
         different"
    );
    if missing + different > 0 {
        return Err(Failure::failed(format!(
            "the destination does not match the source for {} entries",
            missing + different
        ))
        .hint(
            "entries changed at the source during the copy, or existing destination entries \
             were kept; --overwrite replaces them",
        ));
    }
    Ok(())
}
