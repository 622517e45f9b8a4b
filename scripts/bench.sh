#!/usr/bin/env bash
# `just bench`: every store beside its raw driver and the tower-sessions
# stores (crates/store-bench), on the servers the backend registry names
# started here on loopback (scripts/services.sh) and stopped after, by PID.
# Rewrites docs/performance.md and docs/perf/*.svg. Extra arguments go to
# store-bench (e.g. `just bench --backends memory,redis`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
export PATH="$HOME/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export STORE_CACHE_DIR="${STORE_CACHE_DIR:-$HOME/.cache/store-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$STORE_CACHE_DIR/target}"

# shellcheck source=scripts/services.sh
source scripts/services.sh

# On a fresh machine the MongoDB-compatible server is built once (into
# $STORE_CACHE_DIR/tools): build it beside the benchmark, both before any
# measuring starts.
mongo_build=""
if [ -z "${STORE_TEST_MONGODB_URL:-}" ]; then
  (svc_ensure_mongodb) &
  mongo_build=$!
fi
cargo build --release -p store-bench
if [ -n "$mongo_build" ]; then
  wait "$mongo_build" || { echo "building the MongoDB-compatible server failed" >&2; exit 1; }
fi

trap services_stop EXIT
mapfile -t servers < <(registry_servers)
services_start "${servers[@]}"
"$CARGO_TARGET_DIR/release/store-bench" --doc docs/performance.md "$@"
