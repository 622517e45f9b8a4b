#!/usr/bin/env bash
# `just bench`: every store beside its raw driver and the tower-sessions
# stores (crates/store-bench), on Redis, PostgreSQL and MongoDB servers
# started here on loopback (scripts/services.sh) and stopped after.
# Rewrites docs/performance.md and docs/perf/*.svg. Extra arguments go to
# store-bench (e.g. `just bench --backends memory,redis`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
export PATH="$HOME/.cargo/bin:$PATH"
export STORE_CACHE_DIR="${STORE_CACHE_DIR:-$HOME/.cache/store-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$STORE_CACHE_DIR/target}"

# Build while nothing else runs, then start the servers: the MongoDB
# server is built on first use too, and the two builds share the CPUs.
cargo build --release -p store-bench
# shellcheck source=scripts/services.sh
source scripts/services.sh
trap services_stop EXIT
services_start redis postgres mongodb
"$CARGO_TARGET_DIR/release/store-bench" --doc docs/performance.md "$@"
