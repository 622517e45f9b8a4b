#!/usr/bin/env bash
# Proves `just new-backend` in a throwaway copy of the working tree: creates a
# backend named `demo`, then runs its conformance suite, its matrix row,
# clippy and the format check there, and deletes the copy. Part of
# scripts/test-all.sh (and so of CI); `just check-new-backend` runs it alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

copy=$(mktemp -d "${TMPDIR:-/tmp}/store-new-backend.XXXXXX")
trap 'rm -rf "$copy"' EXIT
tar -C . --exclude=./.git --exclude=./target -cf - . | tar -C "$copy" -xf -
cd "$copy"

bash scripts/new-backend.sh demo
cargo test -p store-demo
cargo test -p store-matrix -- demo::
cargo clippy -p store-demo --all-targets -- -D warnings
cargo fmt --all -- --check
echo "new-backend: store-demo passed its suite and its matrix row"
