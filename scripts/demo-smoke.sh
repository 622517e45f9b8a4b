#!/usr/bin/env bash
# Runs the README's demo command (`cargo run -p store-web-demo`) the way a
# user does, in a fresh directory with the default SQLite file, and drives it
# with curl: login, count twice, the sessions and token pages, logout. Stops
# it by PID. Part of scripts/test-all.sh; `just demo-smoke` runs it alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

if ! command -v curl >/dev/null 2>&1; then
  # shellcheck source=scripts/services.sh
  source scripts/services.sh
  svc_apt_install curl
fi

cargo build -q -p store-web-demo
work=$(mktemp -d "${TMPDIR:-/tmp}/store-demo.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
PORT=0 cargo run -q --manifest-path "$root/Cargo.toml" -p store-web-demo >"$work/out.log" 2>&1 </dev/null &
pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's|^store demo on \(http://[^ ]*\) .*|\1|p' "$work/out.log" 2>/dev/null || true)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "the demo did not start:"; cat "$work/out.log"; exit 1; }
head -1 "$work/out.log"

jar="$work/cookies"
# A page's one-line status, from its x-demo-status header.
get() {
  curl -sS -c "$jar" -b "$jar" -D - -o /dev/null "$url${1#/}" |
    tr -d '\r' | sed -n 's/^x-demo-status: //Ip'
}
post() { curl -sS -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' --data "${2:-}" "$url${1#/}"; }
expect() {
  if [ "$1" != "$2" ]; then echo "demo: expected '$2', got '$1'"; exit 1; fi
  echo "  $2"
}

expect "$(get /)" "not logged in"
expect "$(post /login name=ci)" "303"
expect "$(get /)" "hello ci, count = 0"
post /count >/dev/null
post /count >/dev/null
expect "$(get /)" "hello ci, count = 2"
expect "$(get /sessions)" "sessions of ci: 1"
case "$(get /token)" in
  "token demo-access-1 "*) echo "  token demo-access-1 …" ;;
  *) echo "demo: the token page did not answer"; exit 1 ;;
esac
# The justfile's storectl example, on the demo's own database: the demo
# and storectl use the same (default) namespace.
stats=$(cd "$work" && cargo run -q --manifest-path "$root/Cargo.toml" -p storectl -- stats --url sqlite://store-demo.db)
grep -q '^live entries: *[1-9]' <<<"$stats" || { echo "demo: storectl stats found no entries:"; echo "$stats"; exit 1; }
echo "  storectl stats --url sqlite://store-demo.db: $(grep '^live entries' <<<"$stats")"
listed=$(cd "$work" && cargo run -q --manifest-path "$root/Cargo.toml" -p storectl -- list --owner ci --url sqlite://store-demo.db)
grep -q '1 entries of owner ci\|1 entry of owner ci' <<<"$listed" || { echo "demo: storectl list --owner ci:"; echo "$listed"; exit 1; }
echo "  storectl list --owner ci: 1 session"
expect "$(post /logout)" "303"
expect "$(get /)" "not logged in"
[ -f "$work/store-demo.db" ] || { echo "demo: no SQLite file store-demo.db"; exit 1; }
echo "demo: login, count, sessions, token and logout work (SQLite file store-demo.db)"
