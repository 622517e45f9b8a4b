#!/usr/bin/env bash
# Every benchmark, each store next to its raw driver in the same run. Starts
# the servers it needs on loopback (scripts/services.sh) and stops them after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh
trap services_stop EXIT
services_start redis postgres mongodb
cargo bench -p store-memory --bench memory
cargo bench -p store-redis --bench redis
cargo bench -p store-sqlx --all-features --bench sqlx
cargo bench -p store-mongodb --bench mongodb
cargo bench -p store-layers --all-features --bench layers
