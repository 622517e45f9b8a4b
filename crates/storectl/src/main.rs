//! `storectl`: the command line for whoever runs a store in production.
//! See the README of this crate for the commands and exit codes.
//!
//! Run `storectl --help` for the commands; `docs/operations.md` shows each
//! one with its output.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod copy;
mod fail;
mod follow;
mod jsonl;
mod open;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::fail::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::failed(format!("cannot start the runtime: {e}")).report(),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn run(command: Command) -> fail::Outcome {
    match command {
        Command::MigrateSchema { target } => commands::migrate(&target).await,
        Command::PurgeExpired { target, batch } => commands::purge(&target, batch).await,
        Command::Stats { target, top, json } => commands::stats(&target, top, json).await,
        Command::List {
            target,
            owner,
            json,
        } => commands::list(&target, &owner, json).await,
        Command::Revoke { target, owner } => commands::revoke(&target, &owner).await,
        Command::Copy(args) => copy::run(&args).await,
        Command::Export {
            target,
            output,
            batch,
        } => jsonl::export(&target, output.as_deref(), batch).await,
        Command::Import {
            target,
            input,
            overwrite,
            concurrency,
            dry_run,
        } => {
            let options = jsonl::ImportOptions {
                overwrite,
                concurrency,
                dry_run,
            };
            jsonl::import(&target, input.as_deref(), options).await
        }
    }
}
