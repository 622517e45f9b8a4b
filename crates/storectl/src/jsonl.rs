//! `storectl export` and `storectl import`: entries as JSON lines.
//!
//! One object per line: `{"key":"…","value":"<base64>","expires_at":<Unix
//! ms or null>,"owner":"…" or null}`. Versions are not kept: the
//! destination store gives each written entry a new one.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use store::{Bytes, Entry, Expiry, Key, Owner};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use crate::cli::Target;
use crate::copy::{Item, WriteCounts, WriteMode, write_batch};
use crate::fail::{Failure, Outcome};
use crate::open::{Scanner, open, open_target};
use crate::progress;

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    key: String,
    value: String,
    expires_at: Option<i64>,
    owner: Option<String>,
}

impl Record {
    fn of(key: &Key, entry: &Entry) -> Self {
        Self {
            key: key.as_str().to_owned(),
            value: BASE64.encode(&entry.value),
            expires_at: entry.expires_at.map(Expiry::as_unix_millis),
            owner: entry.owner.as_ref().map(|o| o.as_str().to_owned()),
        }
    }

    /// The entry to write, or why the line is invalid.
    fn into_item(self) -> Result<Item, String> {
        let key = Key::new(self.key).map_err(|e| format!("invalid key: {e}"))?;
        let value = BASE64
            .decode(self.value.as_bytes())
            .map_err(|e| format!("value is not base64: {e}"))?;
        let expires_at = self
            .expires_at
            .map(Expiry::from_unix_millis)
            .transpose()
            .map_err(|e| format!("invalid expires_at: {e}"))?;
        let owner = self
            .owner
            .map(Owner::new)
            .transpose()
            .map_err(|e| format!("invalid owner: {e}"))?;
        Ok(Item {
            key,
            value: Bytes::from(value),
            expires_at,
            owner,
        })
    }
}

/// A JSON error without serde's "at line 1" (each input line is parsed on
/// its own; the caller names the file's line).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &text[..i], e.column()),
        None => text,
    }
}

/// `storectl export`.
pub(crate) async fn export(target: &Target, output: Option<&Path>, batch: usize) -> Outcome {
    let store = open_target(target).await?;
    // A file is written beside its final name, readable by its owner only
    // (it holds every session's data), and renamed once complete, so a
    // failed export never leaves a file that looks whole.
    let partial = output.map(|path| {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        std::path::PathBuf::from(tmp)
    });
    let sink: Box<dyn AsyncWrite + Unpin + Send> = match &partial {
        Some(tmp) => {
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            options.mode(0o600);
            Box::new(
                options
                    .open(tmp)
                    .await
                    .map_err(|e| Failure::usage(format!("cannot create {}: {e}", tmp.display())))?,
            )
        }
        None => Box::new(tokio::io::stdout()),
    };
    let mut out = BufWriter::new(sink);
    let counter = progress::counter("exporting");
    let mut scan = Scanner::new(&*store, None, batch);
    let mut written = 0u64;
    let write_err = |e: std::io::Error| Failure::failed(format!("cannot write the export: {e}"));
    while let Some(page) = scan.next_page().await? {
        for (key, entry) in &page {
            let mut line = serde_json::to_vec(&Record::of(key, entry))
                .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
            line.push(b'\n');
            out.write_all(&line).await.map_err(write_err)?;
        }
        written += page.len() as u64;
        counter.inc(page.len() as u64);
    }
    out.flush().await.map_err(write_err)?;
    drop(out);
    if let (Some(tmp), Some(path)) = (&partial, output) {
        tokio::fs::rename(tmp, path).await.map_err(write_err)?;
    }
    counter.finish_and_clear();
    eprintln!(
        "exported {written} entries (skipped: {} expired, {} unreadable)",
        scan.totals.expired, scan.totals.unreadable
    );
    Ok(())
}

/// How `storectl import` writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImportOptions {
    pub(crate) overwrite: bool,
    pub(crate) concurrency: usize,
    pub(crate) dry_run: bool,
}

/// Lines read and checked before each batch of writes.
const IMPORT_BATCH: usize = 1000;

/// `storectl import`.
pub(crate) async fn import(target: &Target, input: Option<&Path>, opts: ImportOptions) -> Outcome {
    if opts.concurrency == 0 {
        return Err(Failure::usage("--concurrency must be at least 1"));
    }
    let source: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match input {
        Some(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| Failure::usage(format!("cannot open {}: {e}", path.display())))?,
        ),
        None => Box::new(tokio::io::stdin()),
    };
    let store = match opts.dry_run {
        true => None,
        false => Some(open(&target.url, target.namespace.as_deref(), true, None).await?),
    };
    let mode = match opts.overwrite {
        true => WriteMode::Overwrite,
        false => WriteMode::KeepExisting,
    };
    let mut lines = BufReader::new(source).lines();
    let mut number = 0u64;
    let mut totals = WriteCounts::default();
    let mut checked = 0u64;
    let counter = progress::counter("importing");
    loop {
        let mut items = Vec::with_capacity(IMPORT_BATCH);
        while items.len() < IMPORT_BATCH {
            let Some(line) = lines
                .next_line()
                .await
                .map_err(|e| Failure::usage(format!("cannot read the input: {e}")))?
            else {
                break;
            };
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            let item = serde_json::from_str::<Record>(&line)
                .map_err(|e| json_error(&e))
                .and_then(Record::into_item)
                .map_err(|why| {
                    Failure::usage(format!(
                        "line {number}: {why} ({} entries written before it)",
                        totals.written
                    ))
                })?;
            items.push(item);
        }
        if items.is_empty() {
            break;
        }
        checked += items.len() as u64;
        counter.inc(items.len() as u64);
        if let Some(store) = &store {
            let counts = write_batch(&**store, items, mode, opts.concurrency).await?;
            totals.add(&counts);
        }
    }
    counter.finish_and_clear();
    if opts.dry_run {
        println!("dry run: {checked} valid entries read, nothing written");
    } else {
        println!(
            "imported {} entries (kept existing: {}, skipped expired: {}, rejected: {})",
            totals.written, totals.existing, totals.expired, totals.rejected
        );
    }
    if totals.rejected > 0 {
        return Err(Failure::failed(format!(
            "{} entries were rejected by the store (see the warnings above)",
            totals.rejected
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_roundtrips_and_bad_lines_say_why() {
        let line = r#"{"key":"k","value":"aGk=","expires_at":1700000000123,"owner":"alice"}"#;
        let item = serde_json::from_str::<Record>(line)
            .unwrap()
            .into_item()
            .unwrap();
        assert_eq!(&item.value[..], b"hi");
        assert_eq!(item.expires_at.unwrap().as_unix_millis(), 1_700_000_000_123);
        let bad = r#"{"key":"","value":"","expires_at":null,"owner":null}"#;
        let why = serde_json::from_str::<Record>(bad)
            .unwrap()
            .into_item()
            .unwrap_err();
        assert!(why.starts_with("invalid key"), "{why}");
        let bad = r#"{"key":"k","value":"***","expires_at":null,"owner":null}"#;
        let why = serde_json::from_str::<Record>(bad)
            .unwrap()
            .into_item()
            .unwrap_err();
        assert!(why.contains("base64"), "{why}");
        let e = serde_json::from_str::<Record>(r#"{"key":"k","expires_at":"soon"}"#).unwrap_err();
        assert_eq!(
            json_error(&e),
            "invalid type: string \"soon\", expected i64 (column 30)"
        );
        assert!(serde_json::from_str::<Record>(r#"{"key":"k","extra":1}"#).is_err());
    }
}
