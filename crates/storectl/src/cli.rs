//! The command line: every command, flag and its help text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The operator's tool for a store: schema set-up, purges for cron,
/// statistics, revoking a user's sessions, and moving every live entry
/// between backends without logging anyone out.
///
/// Exit codes: 0 success; 1 the operation failed (server unreachable,
/// backend error, copy verification found differences); 2 bad usage or
/// configuration (bad flag or URL, missing table, invalid input file).
#[derive(Debug, Parser)]
#[command(name = "storectl", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Which store a command works on.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// The store's URL: memory://, sqlite://path, postgres://…, mysql://…,
    /// redis://…, mongodb://… (its password is never printed).
    #[arg(long, env = "STORE_URL", hide_env_values = true)]
    pub(crate) url: String,
    /// The namespace: the key prefix (Redis, memory), table (SQL) or
    /// collection (MongoDB). Default: the backend's default.
    #[arg(
        long,
        visible_aliases = ["prefix", "table", "collection"],
        value_name = "NAME"
    )]
    pub(crate) namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the table and indexes (SQL) or the indexes, TTL index
    /// included (MongoDB). Idempotent, safe from several processes.
    MigrateSchema {
        #[command(flatten)]
        target: Target,
    },
    /// Delete expired entries and print how many (for cron). A no-op on
    /// Redis, which expires entries itself; on MongoDB it counts what the
    /// TTL monitor has not removed yet.
    PurgeExpired {
        #[command(flatten)]
        target: Target,
        /// Entries removed by each statement (SQL, MongoDB).
        #[arg(long, value_name = "N")]
        batch: Option<u32>,
    },
    /// Count live entries, expired ones not yet purged, bytes, and the
    /// owners with the most entries. Reads the whole namespace.
    Stats {
        #[command(flatten)]
        target: Target,
        /// How many owners to list.
        #[arg(long, default_value_t = 10, value_name = "N")]
        top: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the live entries of one owner (without their values).
    List {
        #[command(flatten)]
        target: Target,
        /// The owner (a user id).
        #[arg(long)]
        owner: String,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete every entry of one owner: log a user out everywhere.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The owner (a user id).
        #[arg(long)]
        owner: String,
    },
    /// Copy every live entry (value, expiry, owner) to another store,
    /// then check the destination against the source; with `--follow`,
    /// keep the destination in step with the source until stopped.
    Copy(CopyArgs),
    /// Write every live entry as JSON lines (values in base64).
    Export {
        #[command(flatten)]
        target: Target,
        /// The file to write (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Entries read per page.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        batch: usize,
    },
    /// Write the entries of a JSON lines file (as `export` writes them);
    /// entries that have expired are skipped.
    Import {
        #[command(flatten)]
        target: Target,
        /// The file to read (default: standard input).
        #[arg(long, short, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Replace entries that already exist (default: keep them).
        #[arg(long)]
        overwrite: bool,
        /// Writes in flight at once.
        #[arg(long, default_value_t = 16, value_name = "N")]
        concurrency: usize,
        /// Read and check the file, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `storectl copy`.
#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// The source store's URL.
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,
    /// The destination store's URL (its table or indexes are created when
    /// missing).
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// The source's namespace (prefix, table or collection).
    #[arg(long, visible_aliases = ["from-prefix", "from-table", "from-collection"], value_name = "NAME")]
    pub(crate) from_namespace: Option<String>,
    /// The destination's namespace (prefix, table or collection).
    #[arg(long, visible_aliases = ["to-prefix", "to-table", "to-collection"], value_name = "NAME")]
    pub(crate) to_namespace: Option<String>,
    /// Entries read and written per batch.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub(crate) batch: usize,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub(crate) concurrency: usize,
    /// Save progress to FILE after every batch and resume from it when it
    /// exists (it is removed once the copy is complete).
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
    /// Replace entries that already exist at the destination (default:
    /// keep them and count them). With --follow it applies to the first
    /// copy; every later change at the source replaces the destination's
    /// entry anyway.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Read the source and the destination, report what a copy would do,
    /// write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Skip the final check of every copied entry at the destination.
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// After the copy, keep the destination in step with the source until
    /// SIGINT (Ctrl-C) or SIGTERM, so the application can switch stores
    /// without pausing writes.
    ///
    /// Every --interval, a pass scans the whole source: what was created or
    /// changed since the last pass is written, replacing the destination's
    /// entry as --overwrite does (the source wins), and what was deleted or
    /// expired at the source is deleted at the destination (a logout
    /// wins). On a signal it finishes the pass under way, runs one last
    /// pass, prints a summary and exits with 0 (1 if the destination
    /// refused entries). A pass that fails with a retryable error (server
    /// unreachable) is run again after the interval; any other error ends
    /// the command. The check after the copy is not run: the source changes
    /// meanwhile, and the passes compare instead. Memory grows with the
    /// number of keys. Not with --dry-run or --state: what a follow knows
    /// about the source is held in memory only.
    #[arg(long, conflicts_with_all = ["dry_run", "state"])]
    pub(crate) follow: bool,
    /// With --follow, the pause between the end of a pass and the start of
    /// the next: 500ms, 2s, 1m.
    #[arg(
        long,
        default_value = "1s",
        value_parser = humantime::parse_duration,
        requires = "follow",
        value_name = "DURATION"
    )]
    pub(crate) interval: Duration,
}
