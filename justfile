# Every recipe is the exact command CI runs. `just test-all` is the README's
# set-up + test command; `just --list` shows the rest.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Set up a fresh machine and run everything CI runs: lints, then every backend x the whole suite.
test-all:
    bash scripts/test-all.sh

# Formatting, clippy and rustdoc, every warning denied.
lint: fmt-check clippy doc

# Check formatting.
fmt-check:
    cargo fmt --all -- --check

# Clippy on every crate, target and feature.
clippy:
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Build the docs of every crate; a warning fails.
doc:
    RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --all-features

# Package every publishable crate as crates.io would take it and build each from its package (a dry run: nothing is uploaded).
package:
    bash scripts/package-check.sh

# Unit tests, doctests and the conformance matrix of every crate.
test:
    cargo test --workspace --all-features --no-fail-fast

# The conformance matrix alone (every backend x every behaviour).
matrix:
    cargo test -p store-matrix

# Start a new backend from the template: crates/store-NAME, in the workspace and the matrix, passing the suite.
new-backend NAME:
    bash scripts/new-backend.sh {{NAME}}

# Prove `new-backend` in a throwaway copy of the tree (create `demo`, run its suite, delete).
check-new-backend:
    bash scripts/check-new-backend.sh

# The README's run command: the demo web app (SQLite file by default; STORE_URL picks another backend).
demo:
    cargo run -p store-web-demo

# Run the demo as the README says and drive it with curl (login, count, sessions, token, logout).
demo-smoke:
    bash scripts/demo-smoke.sh

# The operator's command line, e.g. `just storectl stats --url sqlite://store-demo.db`.
storectl *ARGS:
    cargo run -q -p storectl -- {{ARGS}}

# The long soak (needs the test servers: `just services`): 64 tasks per server backend for SECS seconds (default 120), every acknowledged session checked at the end; then SECS of linearizability histories per server backend under connection cuts, and per matrix row.
soak SECS="120":
    STORE_SOAK_SECS={{SECS}} STORE_LINEARIZABILITY_SECS={{SECS}} cargo test -p store-matrix --test reliability -- --nocapture --test-threads 1 soak linearizable
    STORE_LINEARIZABILITY_SECS={{SECS}} cargo test -p store-matrix --test matrix -- --nocapture --test-threads 4 linearizable

# Move N made-up sessions (default 100,000) from Redis to PostgreSQL with storectl, printing the transcript (needs STORE_TEST_REDIS_URL and STORE_TEST_POSTGRES_URL).
copy-demo N="100000":
    bash scripts/copy-demo.sh {{N}}

# The quickstart on MemoryStore: every store operation, printed step by step.
quickstart:
    cargo run -p store-examples --example quickstart

# Start the test servers (Redis, Redis Cluster, Postgres, MongoDB) in the foreground; prints their URLs.
services:
    bash scripts/services.sh

# Every store beside its raw driver and the tower-sessions stores, same run, same servers (starts them); rewrites docs/performance.md.
bench *ARGS:
    bash scripts/bench.sh {{ARGS}}

# The scale mode (many minutes): N live sessions per backend (default 1,000,000) against 10,000: get/put latency, bytes per session, load, storectl copy and purge rates; rewrites only the scale section of docs/performance.md (from docs/perf/scale.json).
bench-scale N="1000000" *ARGS:
    cargo build --release -p storectl
    bash scripts/bench.sh --scale {{N}} {{ARGS}}

# The benchmark in a few seconds on the running test servers: proves it runs, writes its document (to a temp dir) and runs its control (A/A) mode.
bench-smoke:
    bash -c 'out=$(mktemp -d) && cargo run -q -p store-bench -- --quick --tasks 1,4 --doc "$out/performance.md" > "$out/tables.md" && test -s "$out/perf/kv.svg" && grep -q "round trips" "$out/performance.md" && cargo run -q -p store-bench -- --control --quick --tasks 1 --no-round-trips | grep -q "(control)" && echo "bench-smoke: wrote $out/performance.md; the control run ran" '
