#!/usr/bin/env bash
# The one set-up + test command (README, `just test-all`, `.ci/run`).
#
# On a fresh machine it installs what it needs (`just`, redis-server,
# postgresql, cmake, the MongoDB wire-compatible test server secantusd-rs,
# built once into the cache dir, and chromium with chromedriver for the
# demo's browser test), then runs the lints (fmt, clippy
# -D warnings, rustdoc -D warnings), packages every publishable crate and
# builds it from its package (a dry run), starts the servers on loopback
# (scripts/services.sh: Redis, a 3-master Redis Cluster, Postgres, MongoDB),
# runs every test of the workspace including the conformance matrix against
# them, proves `just new-backend` in a throwaway copy, runs the quickstart
# and the demo web app (driven with curl), and stops every server it
# started, by PID.
#
# Builds go to a target dir outside the clone ($STORE_CACHE_DIR/target, by
# default ~/.cache/store-rs/target) so fresh clones on one machine reuse them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# An `env -i`-style environment has no HOME or PATH to cargo: derive them.
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
export PATH="$HOME/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

export STORE_CACHE_DIR="${STORE_CACHE_DIR:-$HOME/.cache/store-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$STORE_CACHE_DIR/target}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Under CI a backend without a server fails instead of skipping.
if [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then
  export STORE_TEST_REQUIRE="${STORE_TEST_REQUIRE:-1}"
fi
mkdir -p "$STORE_CACHE_DIR"

step() { printf '\n==> %s\n' "$*"; }

ensure_just() {
  if command -v just >/dev/null 2>&1; then return; fi
  local dir="$STORE_CACHE_DIR/tools/just"
  export PATH="$dir/bin:$PATH"
  if command -v just >/dev/null 2>&1; then return; fi
  step "installing just into $dir"
  mkdir -p "$dir"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$dir" "rust-just>=1.30,<2" >"$dir/pip.log" 2>&1 || cat "$dir/pip.log" >&2
  if ! command -v just >/dev/null 2>&1; then
    cargo install just --locked --quiet --root "$dir"
  fi
  just --version
}

# How many tests passed, failed or were ignored per row (the first part of
# each test name) of the matrix and of the reliability suite, from a
# `cargo test` log.
row_counts() {
  awk '
    /^ *Running (matrix|reliability)\/main\.rs/ { suite = $2; sub(/\/main\.rs/, "", suite); next }
    /^ *Running / { suite = ""; next }
    suite != "" && /^test [^ ]+ \.\.\. / {
      split($2, part, "::")
      row = suite " " part[1]
      rows[row] = 1
      if ($4 == "ok") passed[row]++
      else if ($4 == "ignored") ignored[row]++
      else failed[row]++
    }
    END {
      for (row in rows) {
        split(row, f, " ")
        printf "    %-12s %-22s %5d passed %3d failed %3d ignored\n", f[1], f[2], passed[row], failed[row], ignored[row]
      }
    }' "$1" | sort
}

# The mode: `native` runs every step against servers started on loopback
# (installed with apt as root); `containers` runs the conformance matrix and
# the reliability suite against containers of the project's own images
# (scripts/images.sh: built here from Debian packages, never pulled).
# STORE_TEST_MODE chooses; without it, `containers` when native servers
# cannot be installed (not root, or no apt-get) and a Docker daemon answers,
# else `native`.
native_possible() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && return 0
  command -v redis-server >/dev/null 2>&1 && command -v mariadbd >/dev/null 2>&1 &&
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 &&
    [ -x "$STORE_CACHE_DIR/tools/bin/secantusd-rs" ]
}
mode="${STORE_TEST_MODE:-}"
if [ -z "$mode" ]; then
  mode=native
  if ! native_possible && docker info >/dev/null 2>&1; then mode=containers; fi
fi
case "$mode" in
  native | containers) ;;
  *) echo "STORE_TEST_MODE=$mode: expected native or containers" >&2; exit 2 ;;
esac

# Container mode: the matrix and the reliability suite, every service in a
# container of its own (labelled store-rs.service), from local images only.
run_containers() {
  # shellcheck source=scripts/images.sh
  source scripts/images.sh
  step "containers: a Docker daemon and the project's images (never pulled)"
  trap docker_stop EXIT
  docker_start
  local service
  for service in REDIS POSTGRES MONGODB MYSQL REDIS_CLUSTER REDIS_SENTINEL; do
    unset "STORE_TEST_${service}_URL" "STORE_TEST_${service}_URLS"
  done
  # The project's images unless a variable names another (for example the
  # official ones on Docker Desktop, where they can be pulled); ours are
  # built here when missing and never pulled.
  export STORE_TEST_REDIS_IMAGE="${STORE_TEST_REDIS_IMAGE:-store-rs/redis:7}"
  export STORE_TEST_POSTGRES_IMAGE="${STORE_TEST_POSTGRES_IMAGE:-store-rs/postgres:15}"
  export STORE_TEST_MONGODB_IMAGE="${STORE_TEST_MONGODB_IMAGE:-store-rs/mongodb:secantus}"
  export STORE_TEST_MYSQL_IMAGE="${STORE_TEST_MYSQL_IMAGE:-store-rs/mariadb:10.11}"
  local ours=() pair
  for pair in redis:REDIS postgres:POSTGRES mongodb:MONGODB mariadb:MYSQL; do
    local var="STORE_TEST_${pair#*:}_IMAGE"
    case "${!var}" in store-rs/*) ours+=("${pair%%:*}") ;; esac
  done
  if [ "${#ours[@]}" -gt 0 ]; then images_build "${ours[@]}"; fi
  # Rows whose servers have no container recipe yet.
  local no_recipe=(redis_cluster redis_sentinel)
  step "tests in containers: the matrix and the reliability suite (STORE_TEST_REQUIRE=${STORE_TEST_REQUIRE:-0}); rows without a container recipe yet, not run: ${no_recipe[*]}"
  local log skips=() row ok=1
  for row in "${no_recipe[@]}"; do skips+=(--skip "$row::"); done
  log="$(mktemp "${TMPDIR:-/tmp}/store-tests.XXXXXX")"
  cargo test -p store-matrix --features store-conformance/testcontainers \
    --test matrix --test reliability -- "${skips[@]}" 2>&1 | tee "$log" || ok=0
  step "tests per row, in containers"
  row_counts "$log"
  rm -f "$log"
  step "containers used"
  docker ps -a --filter label=store-rs.service --format '    {{.Label "store-rs.service"}}  {{.Image}}  {{.Status}}'
  [ "$ok" = 1 ] || { echo "tests in containers failed (see above)" >&2; exit 1; }
  step "all passed (containers)"
}

step "tools (mode: $mode)"
cargo --version
rustc --version
ensure_just

if [ "$mode" = containers ]; then
  run_containers
  exit 0
fi

step "lints: fmt, clippy -D warnings, rustdoc -D warnings"
just lint

step "packaging: every publishable crate builds from its package (cargo publish --dry-run)"
just package

# shellcheck source=scripts/services.sh
source scripts/services.sh
mapfile -t servers < <(registry_servers)
step "servers the backend registry names: ${servers[*]}"
trap services_stop EXIT
services_start "${servers[@]}"
svc_ensure_chromium || svc_log "no chromium: the demo's browser test skips (fails under STORE_TEST_REQUIRE=1)"

step "tests: unit, doc and the conformance matrix (STORE_TEST_REQUIRE=${STORE_TEST_REQUIRE:-0})"
test_log="$(mktemp "${TMPDIR:-/tmp}/store-tests.XXXXXX")"
tests_ok=1
just test 2>&1 | tee "$test_log" || tests_ok=0
step "tests per row of the matrix and of the reliability suite"
row_counts "$test_log"
rm -f "$test_log"
[ "$tests_ok" = 1 ] || { echo "tests failed (see above)" >&2; exit 1; }

step "new-backend: a throwaway backend from the template passes the suite"
just check-new-backend

step "bench-smoke: every backend, contender and workload of store-bench, briefly"
just bench-smoke

step "quickstart"
just quickstart

step "demo: the README's run command, driven with curl"
just demo-smoke

step "all passed"
