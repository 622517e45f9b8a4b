#!/usr/bin/env bash
# Proves `just new-backend` in a throwaway copy of the working tree: creates a
# backend named `demo`, checks that its source files are those of every other
# backend crate, then runs its conformance suite, its matrix row, its
# reliability soak, the facade opening `demo://` URLs, clippy and the format
# check there, and deletes the copy. Part of
# scripts/test-all.sh (and so of CI); `just check-new-backend` runs it alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

copy=$(mktemp -d "${TMPDIR:-/tmp}/store-new-backend.XXXXXX")
trap 'rm -rf "$copy"' EXIT
tar -C . --exclude=./.git --exclude=./target -cf - . | tar -C "$copy" -xf -
cd "$copy"

bash scripts/new-backend.sh demo

# The same files as every backend (store-sqlx adds its three SQL dialects and
# writer.rs, the one writer connection of a SQLite database file).
files() { (cd "crates/$1/src" && find . -type f | sort | tr '\n' ' '); }
expected=$(files store-demo)
for crate in store-memory store-redis store-mongodb store-template; do
  [ "$(files "$crate")" = "$expected" ] ||
    { echo "new-backend: $crate has $(files "$crate"), store-demo has $expected" >&2; exit 1; }
done
sqlx=$(files store-sqlx | sed -e 's|\./mysql\.rs ||' -e 's|\./postgres\.rs ||' -e 's|\./sqlite\.rs ||' -e 's|\./writer\.rs ||')
[ "$sqlx" = "$expected" ] || { echo "new-backend: store-sqlx has $sqlx, store-demo has $expected" >&2; exit 1; }
echo "new-backend: store-demo has the files of every backend: $expected"

# Runs a test command and fails unless the log shows the test named $1 passed
# (a filter that matches nothing passes silently otherwise).
passes() {
  local test=$1 log
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  grep -q "^test $test \.\.\. ok$" "$log" || { echo "new-backend: $test did not pass" >&2; exit 1; }
}

cargo test -p store-demo
passes demo::get_missing_is_none cargo test -p store-matrix --test matrix -- demo::
passes demo::soak_keeps_every_acknowledged_session \
  cargo test -p store-matrix --test reliability -- demo::
passes every_registry_backend_opens_at_its_test_url \
  cargo test -p store --all-features --test open -- every_registry_backend
passes tests::registry_matches_the_backends cargo test -p store --all-features --lib -- registry
cargo clippy -p store-demo --all-targets -- -D warnings
cargo fmt --all -- --check
echo "new-backend: store-demo passed its suite, its matrix row and its reliability soak, and store::open opens demo:// URLs"
