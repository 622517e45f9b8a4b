#!/usr/bin/env bash
# `just package`: packages every publishable crate as crates.io would take
# it, and builds each from its package (a dry run: nothing is uploaded).
#
# The builds go to a target dir of their own. Our crates keep their version
# between changes, and cargo treats a registry crate of an unchanged version
# as unchanged: it reuses both the builds of our crates from earlier packages
# and their sources, unpacked from its temporary registry into
# $CARGO_HOME/registry/src/-<hash>/ (a folder named without a host). Both are
# forgotten first, so each run compiles exactly what it packaged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir="${CARGO_TARGET_DIR:-target}/package-check"
rm -rf "$dir"/debug/.fingerprint/store* "$dir"/package
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rm -rf "$cargo_home"/registry/src/-*/store* "$cargo_home"/registry/cache/-*/store*
CARGO_TARGET_DIR="$dir" cargo publish --workspace --dry-run --allow-dirty
