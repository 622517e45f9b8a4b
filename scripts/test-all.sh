#!/usr/bin/env bash
# The one set-up + test command (README, `just test-all`, `.ci/run`).
#
# It runs the lints (fmt, clippy -D warnings, rustdoc -D warnings),
# packages every publishable crate and builds it from its package (a dry
# run), provides the servers, runs every test of the workspace including
# the conformance matrix against them, proves `just new-backend` in a
# throwaway copy, runs the benchmark briefly, the quickstart and the demo
# web app (driven with curl), and stops every server it started, by PID.
#
# Two modes (STORE_TEST_MODE, chosen below when unset):
# - native: installs what it needs on a fresh machine (`just`, redis-server,
#   postgresql, mariadb, cmake, the MongoDB wire-compatible test server
#   secantusd-rs built once into the cache dir, chromium with chromedriver
#   for the demo's browser test) and starts the servers on loopback
#   (scripts/services.sh);
# - containers: needs a Docker daemon and no server binary; every server,
#   including those the fault and TLS tests start for themselves, runs in a
#   container of the project's images (scripts/images.sh).
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
# Incremental compilation helps an edit-compile loop, not this script: its
# files only grow the cached target dir (by tens of GB over many runs).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
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
# (installed with apt as root); `containers` runs every step against
# containers of the project's own images (scripts/images.sh: built here
# from Debian packages, never pulled), with no server binary on the host.
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

# STORE_TEST_STEPS: `all` (the default) runs every step below; `servers`
# runs only the tests that need servers (the conformance matrix, the
# reliability suite, and the backends' tests that own a server of their
# own), as CI's second, container-mode run does.
steps="${STORE_TEST_STEPS:-all}"
case "$steps" in
  all | servers) ;;
  *) echo "STORE_TEST_STEPS=$steps: expected all or servers" >&2; exit 2 ;;
esac
export STORE_TEST_MODE="$mode"

# Container mode: every server in a container of its own (labelled
# store-rs.service), from local images only. Tests that kill, restart or
# reconfigure a server run it in a container of their own too
# (store_conformance::container), so no server binary is needed here.
containers_start() {
  # shellcheck source=scripts/images.sh
  source scripts/images.sh
  step "containers: a Docker daemon and the project's images (never pulled)"
  trap docker_stop EXIT
  docker_start
  local service
  for service in REDIS POSTGRES MONGODB MYSQL REDIS_CLUSTER REDIS_SENTINEL; do
    unset "STORE_TEST_${service}_URL" "STORE_TEST_${service}_URLS"
  done
  unset STORE_TEST_REDIS_SERVER STORE_TEST_POSTGRES_BIN STORE_TEST_MONGODB_SERVER STORE_TEST_MYSQL_SERVER
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
}

# Runs "$@" (a test command), printing its output, then the tests per row
# of the matrix and of the reliability suite; fails when it failed.
run_counted() {
  local log ok=1
  log="$(mktemp "${TMPDIR:-/tmp}/store-tests.XXXXXX")"
  "$@" 2>&1 | tee "$log" || ok=0
  step "tests per row of the matrix and of the reliability suite ($mode)"
  row_counts "$log"
  awk '/^test result:/ { p += $4; f += $6; i += $8 } END {
    printf "    all test binaries: %d passed, %d failed, %d ignored\n", p, f, i }' "$log"
  rm -f "$log"
  [ "$ok" = 1 ] || { echo "tests failed (see above)" >&2; exit 1; }
}

step "tools (mode: $mode, steps: $steps)"
cargo --version
rustc --version
ensure_just

if [ "$steps" = all ]; then
  step "lints: fmt, clippy -D warnings, rustdoc -D warnings"
  just lint

  step "packaging: every publishable crate builds from its package (cargo publish --dry-run)"
  just package
fi

# shellcheck source=scripts/services.sh
source scripts/services.sh
if [ "$mode" = containers ]; then
  containers_start
else
  mapfile -t servers < <(registry_servers)
  step "servers the backend registry names: ${servers[*]}"
  trap services_stop EXIT
  services_start "${servers[@]}"
fi

if [ "$steps" = servers ]; then
  step "tests that need servers ($mode, STORE_TEST_REQUIRE=${STORE_TEST_REQUIRE:-0}): the matrix, the reliability suite, the tests that own their servers"
  # The whole workspace's features, as `just test` builds them: nothing
  # is compiled again after a native run.
  run_counted cargo test --workspace --all-features --no-fail-fast \
    --test matrix --test reliability --test redis --test failover --test postgres --test mysql --test mongodb
  if [ "$mode" = containers ]; then
    step "containers used"
    docker ps -a --filter label=store-rs.service --format '    {{.Label "store-rs.service"}}  {{.Image}}  {{.Status}}'
  fi
  step "all passed ($mode, servers)"
  exit 0
fi

svc_ensure_chromium || svc_log "no chromium: the demo's browser test skips (fails under STORE_TEST_REQUIRE=1)"

step "tests: unit, doc and the conformance matrix ($mode, STORE_TEST_REQUIRE=${STORE_TEST_REQUIRE:-0})"
run_counted just test

if [ "$mode" = containers ]; then
  step "containers used by the tests"
  docker ps -a --filter label=store-rs.service --format '    {{.Label "store-rs.service"}}  {{.Image}}  {{.Status}}'
  # The steps below read the servers' URLs from the environment: those of
  # the containers the tests used (reused by their labels).
  eval "$(cargo run -q -p store-conformance --features testcontainers --example container_urls)"
fi

step "new-backend: a throwaway backend from the template passes the suite"
just check-new-backend

step "bench-smoke: every backend, contender and workload of store-bench, briefly"
just bench-smoke

step "quickstart"
just quickstart

step "demo: the README's run command, driven with curl"
just demo-smoke

step "all passed"
