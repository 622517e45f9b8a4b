//! The single-store commands: migrate-schema, purge-expired, stats, list
//! and revoke.

use std::collections::HashMap;

use serde::Serialize;
use store::{Capabilities, Expiry, Owner};

use crate::cli::Target;
use crate::fail::{Failure, Outcome};
use crate::open::{Scanner, describe, open, open_target};
use crate::progress;

/// `storectl migrate-schema`.
pub(crate) async fn migrate(target: &Target) -> Outcome {
    let store = open(&target.url, target.namespace.as_deref(), true, None).await?;
    let caps = store.capabilities();
    let shown = describe(&target.url, target.namespace.as_deref());
    match caps.backend {
        "postgres" | "sqlite" => println!("schema ready: table and indexes of {shown}"),
        "mongodb" => println!("schema ready: indexes (expiry TTL, owner) of {shown}"),
        other => println!("nothing to set up: {other} needs no schema ({shown})"),
    }
    Ok(())
}

/// `storectl purge-expired`.
pub(crate) async fn purge(target: &Target, batch: Option<u32>) -> Outcome {
    let store = open(&target.url, target.namespace.as_deref(), false, batch).await?;
    let removed = store
        .delete_expired()
        .await
        .map_err(|e| Failure::store("cannot purge expired entries", &e))?;
    println!("{}", purged_line(removed, &store.capabilities()));
    Ok(())
}

/// What `purge-expired` prints: how many entries this purge removed. Where
/// the server expires entries itself (`native_ttl`) that is only what it
/// had not removed yet: 0 on Redis, which leaves it all to the server.
fn purged_line(removed: u64, caps: &Capabilities) -> String {
    if caps.native_ttl && removed == 0 {
        format!(
            "purged 0 expired entries ({} removes expired entries itself)",
            caps.backend
        )
    } else {
        format!("purged {removed} expired entries")
    }
}

/// What `storectl stats` reports.
#[derive(Debug, Default, Serialize)]
struct Stats {
    backend: &'static str,
    store: String,
    live: u64,
    expired_not_purged: u64,
    unreadable: u64,
    without_expiry: u64,
    key_bytes: u64,
    value_bytes: u64,
    owners: u64,
    without_owner: u64,
    top_owners: Vec<OwnerCount>,
}

#[derive(Debug, Serialize)]
struct OwnerCount {
    owner: String,
    entries: u64,
}

/// `storectl stats`.
pub(crate) async fn stats(target: &Target, top: usize, json: bool) -> Outcome {
    let store = open_target(target).await?;
    let mut stats = Stats {
        backend: store.capabilities().backend,
        store: describe(&target.url, target.namespace.as_deref()),
        ..Stats::default()
    };
    let mut by_owner: HashMap<Owner, u64> = HashMap::new();
    let counter = progress::counter("reading");
    let mut scan = Scanner::new(&*store, None, store::DEFAULT_SCAN_LIMIT);
    while let Some(page) = scan.next_page().await? {
        for (key, entry) in &page {
            stats.live += 1;
            stats.key_bytes += key.as_str().len() as u64;
            stats.value_bytes += entry.value.len() as u64;
            stats.without_expiry += u64::from(entry.expires_at.is_none());
            match &entry.owner {
                Some(owner) => *by_owner.entry(owner.clone()).or_default() += 1,
                None => stats.without_owner += 1,
            }
        }
        counter.inc(page.len() as u64);
    }
    counter.finish_and_clear();
    stats.expired_not_purged = scan.totals.expired;
    stats.unreadable = scan.totals.unreadable;
    stats.owners = by_owner.len() as u64;
    let mut owners: Vec<(Owner, u64)> = by_owner.into_iter().collect();
    owners.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    stats.top_owners = owners
        .into_iter()
        .take(top)
        .map(|(owner, entries)| OwnerCount {
            owner: owner.as_str().to_owned(),
            entries,
        })
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&stats)
            .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
        println!("{text}");
    } else {
        print_stats(&stats, store.capabilities().native_ttl);
    }
    Ok(())
}

fn print_stats(s: &Stats, native_ttl: bool) {
    println!("store:               {} ({})", s.store, s.backend);
    println!("live entries:        {}", s.live);
    println!("expired, unpurged:   {}", unpurged_text(s, native_ttl));
    if s.unreadable > 0 {
        println!("unreadable:          {}", s.unreadable);
    }
    println!("without expiry:      {}", s.without_expiry);
    println!(
        "size:                {} (keys {}, values {}; stored size adds per-entry overhead)",
        bytes(s.key_bytes + s.value_bytes),
        bytes(s.key_bytes),
        bytes(s.value_bytes)
    );
    println!("owners:              {}", s.owners);
    println!("entries w/o owner:   {}", s.without_owner);
    if !s.top_owners.is_empty() {
        println!("top owners by entries:");
        let width = s
            .top_owners
            .iter()
            .map(|o| o.owner.len())
            .max()
            .unwrap_or(0);
        for o in &s.top_owners {
            println!("  {:<width$}  {}", o.owner, o.entries);
        }
    }
}

/// `1234567` as `1.2 MB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An owner from the command line.
fn owner(raw: &str) -> Outcome<Owner> {
    Owner::new(raw).map_err(|e| Failure::usage(format!("invalid --owner: {e}")))
}

/// An expiry as RFC 3339 UTC with milliseconds, or `never`.
pub(crate) fn show_expiry(expiry: Option<Expiry>) -> String {
    match expiry {
        Some(e) => humantime::format_rfc3339_millis(e.to_system_time()).to_string(),
        None => "never".to_owned(),
    }
}

#[derive(Debug, Serialize)]
struct Listed<'a> {
    key: &'a str,
    owner: &'a str,
    expires_at: Option<i64>,
    version: String,
    bytes: usize,
}

/// `storectl list --owner`.
pub(crate) async fn list(target: &Target, raw_owner: &str, json: bool) -> Outcome {
    let who = owner(raw_owner)?;
    let store = open_target(target).await?;
    let entries = store
        .list_by_owner(&who)
        .await
        .map_err(|e| Failure::store("cannot list the owner's entries", &e))?;
    if json {
        for (key, entry) in &entries {
            let row = Listed {
                key: key.as_str(),
                owner: who.as_str(),
                expires_at: entry.expires_at.map(Expiry::as_unix_millis),
                version: entry.version.to_string(),
                bytes: entry.value.len(),
            };
            let line = serde_json::to_string(&row)
                .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
            println!("{line}");
        }
        return Ok(());
    }
    let width = entries
        .iter()
        .map(|(k, _)| k.as_str().len())
        .max()
        .unwrap_or(0)
        .max(3);
    println!(
        "{:<width$}  {:<24}  {:<16}  BYTES",
        "KEY", "EXPIRES (UTC)", "VERSION"
    );
    for (key, entry) in &entries {
        println!(
            "{:<width$}  {:<24}  {:<16}  {}",
            key.as_str(),
            show_expiry(entry.expires_at),
            entry.version,
            entry.value.len()
        );
    }
    println!("{} entries of owner {}", entries.len(), who.as_str());
    Ok(())
}

/// `storectl revoke --owner`.
pub(crate) async fn revoke(target: &Target, raw_owner: &str) -> Outcome {
    let who = owner(raw_owner)?;
    let store = open_target(target).await?;
    let deleted = store
        .delete_by_owner(&who)
        .await
        .map_err(|e| Failure::store("cannot revoke the owner's entries", &e))?;
    println!("revoked {deleted} entries of owner {}", who.as_str());
    Ok(())
}

/// The `expired, unpurged` figure of `stats` and who removes those
/// entries: the server by itself where it expires natively (MongoDB's TTL
/// monitor, eventually), and `purge-expired` at once on every backend that
/// has any to show (Redis never has).
fn unpurged_text(s: &Stats, native_ttl: bool) -> String {
    let n = s.expired_not_purged;
    match (native_ttl, n) {
        (true, 0) => format!("0 ({} removes expired entries itself)", s.backend),
        (true, _) => format!(
            "{n} ({} removes expired entries itself; `storectl purge-expired` removes them now)",
            s.backend
        ),
        (false, _) => format!("{n} (removed by `storectl purge-expired`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_reports_what_it_removed_also_where_the_server_expires_natively() {
        let mut mongodb = Capabilities::new("mongodb");
        mongodb.native_ttl = true;
        assert_eq!(purged_line(3, &mongodb), "purged 3 expired entries");
        assert_eq!(
            purged_line(0, &mongodb),
            "purged 0 expired entries (mongodb removes expired entries itself)"
        );
        let sqlite = Capabilities::new("sqlite");
        assert_eq!(purged_line(0, &sqlite), "purged 0 expired entries");
    }

    #[test]
    fn stats_say_who_removes_unpurged_entries() {
        let mut s = Stats {
            backend: "mongodb",
            expired_not_purged: 4,
            ..Stats::default()
        };
        assert_eq!(
            unpurged_text(&s, true),
            "4 (mongodb removes expired entries itself; `storectl purge-expired` removes them now)"
        );
        s.expired_not_purged = 0;
        assert_eq!(
            unpurged_text(&s, true),
            "0 (mongodb removes expired entries itself)"
        );
        s.backend = "postgres";
        s.expired_not_purged = 250;
        assert_eq!(
            unpurged_text(&s, false),
            "250 (removed by `storectl purge-expired`)"
        );
    }

    #[test]
    fn sizes_read_as_decimal_units() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(23_400_000), "23.4 MB");
    }

    #[test]
    fn expiries_print_as_utc_milliseconds() {
        let e = Expiry::from_unix_millis(1_700_000_000_123).unwrap();
        assert_eq!(show_expiry(Some(e)), "2023-11-14T22:13:20.123Z");
        assert_eq!(show_expiry(None), "never");
    }
}
