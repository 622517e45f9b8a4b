#!/usr/bin/env bash
# Moves N made-up sessions (default 100,000) from Redis to PostgreSQL with
# storectl, printing each command and its output: the transcript in
# docs/operations.md. Needs STORE_TEST_REDIS_URL and STORE_TEST_POSTGRES_URL
# (`source <(bash scripts/services.sh redis postgres)` in another shell, or
# your own servers). Works in a fresh prefix / table `demo_<time>`, removed
# again at the end where redis-cli and psql are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
: "${STORE_TEST_REDIS_URL:?set STORE_TEST_REDIS_URL}" "${STORE_TEST_POSTGRES_URL:?set STORE_TEST_POSTGRES_URL}"
cargo build -q --release -p storectl --bins --example sessions_jsonl
bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin/examples/sessions_jsonl" "$n" > "$work/sessions.jsonl"
storectl() { "$bin/storectl" "$@"; }
show() {
  echo "\$ storectl $*"
  local code=0
  storectl "$@" 2>&1 || code=$?
  echo "(exit code $code)"
}
redis="$STORE_TEST_REDIS_URL"
pg="$STORE_TEST_POSTGRES_URL"
ns="demo_$(date +%s)"
cd "$work"
show import --url "$redis" --prefix $ns -i sessions.jsonl --concurrency 32
show stats --url "$redis" --prefix $ns --top 3
show migrate-schema --url "$pg" --table $ns
echo "\$ time storectl copy --from $redis --from-prefix $ns --to $pg --to-table $ns --state copy.state"
time storectl copy --from "$redis" --from-prefix $ns --to "$pg" --to-table $ns --state copy.state
show stats --url "$pg" --table $ns --top 3
echo "\$ ls copy.state"
ls copy.state 2>&1 || true
# Leave the servers as they were.
if command -v redis-cli > /dev/null; then
  redis-cli -u "$redis" --scan --pattern "$ns:*" | xargs -r -n 1000 redis-cli -u "$redis" del > /dev/null
fi
if command -v psql > /dev/null; then
  psql -q "$pg" -c "DROP TABLE IF EXISTS $ns; DROP SEQUENCE IF EXISTS ${ns}_version_seq" 2> /dev/null || true
fi
