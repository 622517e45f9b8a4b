#!/usr/bin/env bash
# Real servers for the test matrix and the benchmarks, on loopback, without
# Docker. Source it, then:
#
#   services_start redis redis-cluster redis-sentinel postgres mongodb mysql   # installs what is missing, starts, exports URLs
#   services_stop                                 # stops every server it started, by PID
#
# Exports STORE_TEST_REDIS_URL, STORE_TEST_REDIS_CLUSTER_URLS,
# STORE_TEST_REDIS_SENTINEL_URL, STORE_TEST_POSTGRES_URL, STORE_TEST_MONGODB_URL, STORE_TEST_MYSQL_URL, and
# STORE_TEST_REDIS_SERVER / STORE_TEST_POSTGRES_BIN / STORE_TEST_MONGODB_SERVER
# / STORE_TEST_MYSQL_SERVER (the redis-server binary, the Postgres bin
# directory, the MongoDB-compatible server and mariadbd binaries, for the
# fault and TLS tests that start servers of their own). A URL already set in
# the environment is used as is and nothing is started for it.
#
#   svc_ensure_chromium                           # installs Debian's chromium and chromedriver if missing
#
# exports STORE_TEST_CHROMIUM and STORE_TEST_CHROMEDRIVER for the demo's
# browser test (crates/store-web-demo/tests/browser.rs).
#
# MongoDB: there is no mongod package here, so `mongodb` runs secantusd-rs, a
# MongoDB wire-compatible server (crate secantus-mdb, GPL-2.0, a separate
# test-only process, never a dependency of our crates). It is built once with
# `cargo install` into $STORE_CACHE_DIR/tools (about 6 minutes on 2 cores) and
# reused from there; STORE_TEST_MONGODB_SERVER may point at another binary.
#
# Run directly (`bash scripts/services.sh redis redis-cluster`) it starts the
# servers, prints the exports and waits until Ctrl-C, then stops them.

SERVICES_DIR="${SERVICES_DIR:-}"
SERVICES_PIDS=()
# Where the Redis servers listen: loopback, unless STORE_SERVICES_BIND says
# otherwise (0.0.0.0 inside a container, whose ports are published). A
# cluster node or replica then announces STORE_SERVICES_ANNOUNCE_IP.
SVC_BIND="${STORE_SERVICES_BIND:-127.0.0.1}"
SVC_PROTECTED=yes
[ "$SVC_BIND" = 127.0.0.1 ] || SVC_PROTECTED=no
SVC_ANNOUNCE=()
if [ -n "${STORE_SERVICES_ANNOUNCE_IP:-}" ]; then
  SVC_ANNOUNCE=(--replica-announce-ip "$STORE_SERVICES_ANNOUNCE_IP")
fi

svc_log() { printf '    [services] %s\n' "$*" >&2; }

# Whether a TCP socket uses local port $1: a listener, or (in the ephemeral
# range) the local end of any connection, which would make a bind fail as
# well. Without `ss`, only a listener on loopback is seen.
svc_port_busy() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# The first free loopback port at or after $1 (whose +10000 cluster bus port is
# free too when $2 is "bus").
svc_free_port() {
  local port=$1
  while :; do
    if ! svc_port_busy "$port"; then
      if [ "${2:-}" != bus ] || ! svc_port_busy $((port + 10000)); then
        echo "$port"
        return
      fi
    fi
    port=$((port + 1))
  done
}

svc_apt_install() {
  if [ "$(id -u)" != 0 ]; then
    svc_log "missing $*: install it (apt-get install -y $*), or run as root"
    return 1
  fi
  svc_log "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq "$@" >/dev/null
}

svc_ensure_redis() {
  command -v redis-server >/dev/null 2>&1 || svc_apt_install redis-server
  command -v redis-server >/dev/null 2>&1 || { svc_log "redis-server is not installed"; return 1; }
  export STORE_TEST_REDIS_SERVER="${STORE_TEST_REDIS_SERVER:-$(command -v redis-server)}"
}

# Headless Chromium and chromedriver (Debian's chromium, chromium-driver)
# for the demo's browser test, which starts them itself.
svc_ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    svc_apt_install chromium chromium-driver || return 1
  fi
  export STORE_TEST_CHROMIUM="${STORE_TEST_CHROMIUM:-$(command -v chromium)}"
  export STORE_TEST_CHROMEDRIVER="${STORE_TEST_CHROMEDRIVER:-$(command -v chromedriver)}"
  svc_log "chromium: $("$STORE_TEST_CHROMEDRIVER" --version | cut -d' ' -f1-2)"
}

svc_dir() {
  if [ -z "$SERVICES_DIR" ]; then
    SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/store-services.XXXXXX")
  fi
  chmod 755 "$SERVICES_DIR"
}

# svc_redis_server NAME PORT [extra args...]: starts one daemonized redis-server
# whose PID is recorded for services_stop.
svc_redis_server() {
  local name=$1 port=$2
  shift 2
  local dir="$SERVICES_DIR/$name"
  mkdir -p "$dir"
  redis-server --port "$port" --bind "$SVC_BIND" --protected-mode "$SVC_PROTECTED" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" "$@"
  local i
  for i in $(seq 1 200); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
      SERVICES_PIDS+=("$(cat "$dir/redis.pid")")
      return 0
    fi
    sleep 0.05
  done
  svc_log "redis-server on port $port did not start; its log:"
  cat "$dir/redis.log" >&2 || true
  return 1
}

svc_start_redis() {
  if [ -n "${STORE_TEST_REDIS_URL:-}" ]; then
    svc_log "redis: using STORE_TEST_REDIS_URL from the environment"
    return 0
  fi
  svc_ensure_redis
  local port
  port=$(svc_free_port "${STORE_REDIS_PORT:-26379}")
  svc_redis_server redis "$port"
  export STORE_TEST_REDIS_URL="redis://127.0.0.1:$port/"
  svc_log "redis: $(redis-server --version | cut -d' ' -f3) on port $port"
}

svc_start_redis_cluster() {
  if [ -n "${STORE_TEST_REDIS_CLUSTER_URLS:-}" ]; then
    svc_log "redis-cluster: using STORE_TEST_REDIS_CLUSTER_URLS from the environment"
    return 0
  fi
  svc_ensure_redis
  # Ports must stay <= 55535: the cluster bus listens on port + 10000.
  # STORE_REDIS_CLUSTER_REPLICAS=1 gives each of the 3 masters a replica.
  local replicas=${STORE_REDIS_CLUSTER_REPLICAS:-0}
  local base=${STORE_REDIS_CLUSTER_PORT:-27001} ports=() urls=() addrs=() p i
  for i in $(seq 1 $((3 * (1 + replicas)))); do
    p=$(svc_free_port "$base" bus)
    ports+=("$p")
    base=$((p + 1))
  done
  for p in "${ports[@]}"; do
    local announce=()
    if [ -n "${STORE_SERVICES_ANNOUNCE_IP:-}" ]; then
      announce=(--cluster-announce-ip "$STORE_SERVICES_ANNOUNCE_IP")
    fi
    svc_redis_server "cluster-$p" "$p" --cluster-enabled yes --repl-diskless-sync-delay 0 \
      --cluster-config-file "$SERVICES_DIR/cluster-$p/nodes.conf" --cluster-node-timeout 1000 \
      "${announce[@]}" "${SVC_ANNOUNCE[@]}"
    addrs+=("127.0.0.1:$p")
    urls+=("redis://127.0.0.1:$p/")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$SERVICES_DIR/cluster-create.log" 2>&1 || {
    cat "$SERVICES_DIR/cluster-create.log" >&2
    return 1
  }
  for i in $(seq 1 200); do
    local ok=1
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.05
  done
  [ "$ok" = 1 ] || { svc_log "redis-cluster did not reach cluster_state:ok"; return 1; }
  svc_replicas_synced "${ports[@]}" || return 1
  STORE_TEST_REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
  export STORE_TEST_REDIS_CLUSTER_URLS
  svc_log "redis-cluster: 3 masters, $replicas replica(s) each, on ports ${ports[*]}"
}

# Waits until every replica among the servers on ports $@ has finished its
# first sync (a replica still syncing has no data to take over with).
svc_replicas_synced() {
  local p i info
  for p in "$@"; do
    for i in $(seq 1 300); do
      info=$(redis-cli -p "$p" info replication 2>/dev/null)
      if ! grep -q '^role:slave' <<<"$info" || grep -q '^master_link_status:up' <<<"$info"; then
        break
      fi
      sleep 0.1
    done
    grep -q '^role:slave' <<<"$info" && ! grep -q '^master_link_status:up' <<<"$info" &&
      { svc_log "the replica on port $p did not finish its first sync within 30 s"; return 1; }
  done
  return 0
}

# A Sentinel group: a master, one replica and three sentinels watching them
# under the name `store-test` (quorum 2, a master is down after 1 s).
# Exports STORE_TEST_REDIS_SENTINEL_URL.
svc_start_redis_sentinel() {
  if [ -n "${STORE_TEST_REDIS_SENTINEL_URL:-}" ]; then
    svc_log "redis-sentinel: using STORE_TEST_REDIS_SENTINEL_URL from the environment"
    return 0
  fi
  svc_ensure_redis
  local base=${STORE_REDIS_SENTINEL_PORT:-28001} master replica p i hosts=() sports=()
  master=$(svc_free_port "$base")
  svc_redis_server "sentinel-master-$master" "$master" --repl-diskless-sync-delay 0 "${SVC_ANNOUNCE[@]}"
  replica=$(svc_free_port $((master + 1)))
  svc_redis_server "sentinel-replica-$replica" "$replica" --replicaof 127.0.0.1 "$master" "${SVC_ANNOUNCE[@]}"
  p=$((replica + 1))
  for i in 1 2 3; do
    p=$(svc_free_port "$p")
    local dir="$SERVICES_DIR/sentinel-$p"
    mkdir -p "$dir"
    cat >"$dir/sentinel.conf" <<CONF
port $p
bind $SVC_BIND
protected-mode $SVC_PROTECTED
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
sentinel monitor store-test 127.0.0.1 $master 2
sentinel down-after-milliseconds store-test 1000
sentinel failover-timeout store-test 10000
sentinel parallel-syncs store-test 1
CONF
    redis-server "$dir/sentinel.conf" --sentinel
    local j
    for j in $(seq 1 200); do
      redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && break
      sleep 0.05
    done
    SERVICES_PIDS+=("$(cat "$dir/redis.pid")")
    sports+=("$p")
    hosts+=("127.0.0.1:$p")
    p=$((p + 1))
  done
  # Ready once every sentinel sees the replica and the other sentinels.
  local ok=0
  for i in $(seq 1 300); do
    ok=1
    for p in "${sports[@]}"; do
      redis-cli -p "$p" sentinel ckquorum store-test 2>/dev/null | grep -q 'OK 3 usable' || ok=0
      redis-cli -p "$p" sentinel replicas store-test 2>/dev/null | grep -q "$replica" || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { svc_log "redis-sentinel: the sentinels did not agree within 30 s"; return 1; }
  svc_replicas_synced "$replica" || return 1
  STORE_TEST_REDIS_SENTINEL_URL="redis+sentinel://$(IFS=,; echo "${hosts[*]}")/store-test"
  export STORE_TEST_REDIS_SENTINEL_URL
  svc_log "redis-sentinel: master $master, replica $replica, sentinels ${sports[*]}"
}

svc_ensure_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ]; then
    svc_apt_install postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  [ -n "$bin" ] || { svc_log "no Postgres binaries in /usr/lib/postgresql/*/bin"; return 1; }
  export STORE_TEST_POSTGRES_BIN="${STORE_TEST_POSTGRES_BIN:-$bin}"
}

# Runs a Postgres tool as the `postgres` user when we are root (initdb
# refuses root), as ourselves otherwise.
svc_as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

svc_start_postgres() {
  if [ -n "${STORE_TEST_POSTGRES_URL:-}" ]; then
    svc_log "postgres: using STORE_TEST_POSTGRES_URL from the environment"
    return 0
  fi
  svc_ensure_postgres
  local bin=$STORE_TEST_POSTGRES_BIN dir="$SERVICES_DIR/postgres" port
  port=$(svc_free_port "${STORE_POSTGRES_PORT:-25432}")
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  (cd / && svc_as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
    --no-locale --no-sync >"$dir/initdb.log" 2>&1) || { cat "$dir/initdb.log" >&2; return 1; }
  (cd / && svc_as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
    -o "-h 127.0.0.1 -p $port -k $dir -F -c fsync=off -c max_connections=200" start >/dev/null) || {
    cat "$dir/log" >&2
    return 1
  }
  SERVICES_PIDS+=("$(head -1 "$dir/data/postmaster.pid")")
  (cd / && svc_as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
    -c 'CREATE DATABASE store_test') >/dev/null
  export STORE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/store_test"
  svc_log "postgres: $("$bin/postgres" --version | awk '{print $3}') on port $port"
}

svc_ensure_mysql() {
  command -v mariadbd >/dev/null 2>&1 || svc_apt_install mariadb-server
  command -v mariadbd >/dev/null 2>&1 || { svc_log "mariadbd is not installed"; return 1; }
  export STORE_TEST_MYSQL_SERVER="${STORE_TEST_MYSQL_SERVER:-$(command -v mariadbd)}"
}

# MariaDB from Debian's packages (MySQL 8 is not packaged there), with a
# data directory of its own, on loopback only, and a `store` user with a
# password: the URL carries a secret, as in production.
svc_start_mysql() {
  if [ -n "${STORE_TEST_MYSQL_URL:-}" ]; then
    svc_log "mysql: using STORE_TEST_MYSQL_URL from the environment"
    return 0
  fi
  svc_ensure_mysql
  local dir="$SERVICES_DIR/mysql" port i user
  port=$(svc_free_port "${STORE_MYSQL_PORT:-23306}")
  user=$(id -un)
  mkdir -p "$dir"
  mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
    --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 ||
    { cat "$dir/install.log" >&2; return 1; }
  "$STORE_TEST_MYSQL_SERVER" --no-defaults --datadir="$dir/data" --user="$user" \
    --bind-address=127.0.0.1 --port="$port" --socket="$dir/sock" --pid-file="$dir/pid" \
    --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=128M \
    --max-connections=400 >"$dir/log" 2>&1 </dev/null &
  local pid=$!
  SERVICES_PIDS+=("$pid")
  for i in $(seq 1 200); do
    if [ -S "$dir/sock" ] && mariadb --no-defaults --socket="$dir/sock" -u"$user" -e 'SELECT 1' >/dev/null 2>&1; then
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  mariadb --no-defaults --socket="$dir/sock" -u"$user" -e "
    CREATE DATABASE store_test;
    CREATE USER 'store'@'127.0.0.1' IDENTIFIED BY 'store-test-secret';
    GRANT ALL ON *.* TO 'store'@'127.0.0.1';" >"$dir/setup.log" 2>&1 ||
    { svc_log "mariadbd on port $port did not start; its log:"; cat "$dir/log" "$dir/setup.log" >&2; return 1; }
  export STORE_TEST_MYSQL_URL="mysql://store:store-test-secret@127.0.0.1:$port/store_test"
  svc_log "mysql: MariaDB $("$STORE_TEST_MYSQL_SERVER" --version | grep -o '[0-9][0-9.]*-MariaDB' | head -1) on port $port"
}

SECANTUS_VERSION=0.5.3-beta.196

svc_ensure_mongodb() {
  local cache="${STORE_CACHE_DIR:-$HOME/.cache/store-rs}/tools"
  local bin="${STORE_TEST_MONGODB_SERVER:-$cache/bin/secantusd-rs}"
  if [ ! -x "$bin" ]; then
    command -v cmake >/dev/null 2>&1 || svc_apt_install cmake
    command -v cmake >/dev/null 2>&1 || { svc_log "cmake is needed to build secantusd-rs"; return 1; }
    svc_log "building secantusd-rs $SECANTUS_VERSION into $cache (once, about 6 minutes)"
    mkdir -p "$cache"
    # Its own temporary target dir: not the workspace's.
    env -u CARGO_TARGET_DIR cargo install secantus-mdb --version "$SECANTUS_VERSION" \
      --ignore-rust-version --quiet --root "$cache" >"$cache/secantus-install.log" 2>&1 \
      || { tail -30 "$cache/secantus-install.log" >&2; return 1; }
    bin="$cache/bin/secantusd-rs"
  fi
  export STORE_TEST_MONGODB_SERVER="$bin"
}

svc_start_mongodb() {
  if [ -n "${STORE_TEST_MONGODB_URL:-}" ]; then
    svc_log "mongodb: using STORE_TEST_MONGODB_URL from the environment"
    return 0
  fi
  svc_ensure_mongodb
  local dir="$SERVICES_DIR/mongodb" port i
  port=$(svc_free_port "${STORE_MONGODB_PORT:-27103}")
  mkdir -p "$dir"
  # An empty config file: no config is picked up from ~ or /etc.
  : >"$dir/secantusd.toml"
  "$STORE_TEST_MONGODB_SERVER" --config "$dir/secantusd.toml" --host 127.0.0.1 --port "$port" \
    --storage-path "$dir/data" --log-file-max 8MB --cache-size 256M --log-level WARNING \
    >"$dir/log" 2>&1 </dev/null &
  local pid=$!
  SERVICES_PIDS+=("$pid")
  for i in $(seq 1 200); do
    if grep -q "listening on" "$dir/log" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export STORE_TEST_MONGODB_URL="mongodb://127.0.0.1:$port/"
      svc_log "mongodb: secantusd-rs $("$STORE_TEST_MONGODB_SERVER" --version 2>/dev/null | head -1 | awk '{print $2}') on port $port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  svc_log "secantusd-rs on port $port did not start; its log:"
  cat "$dir/log" >&2 || true
  return 1
}

# The test servers the backends need, each once, in the order of the
# backend registry (crates/store/backends.txt, its last column).
registry_servers() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  awk '!/^[[:space:]]*(#|$)/ && $6 != "-" { print $6 }' "$root/crates/store/backends.txt" |
    tr ',' '\n' | awk '!seen[$0]++'
}

services_start() {
  svc_dir
  local s
  for s in "$@"; do
    case "$s" in
      redis) svc_start_redis ;;
      redis-cluster) svc_start_redis_cluster ;;
      redis-sentinel) svc_start_redis_sentinel ;;
      postgres) svc_start_postgres ;;
      mongodb) svc_start_mongodb ;;
      mysql) svc_start_mysql ;;
      *) svc_log "unknown service: $s"; return 1 ;;
    esac
  done
}

services_stop() {
  local pid
  # SIGINT stops Redis, Postgres (fast shutdown) and the MongoDB server;
  # MariaDB shuts down on SIGTERM.
  for pid in "${SERVICES_PIDS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${SERVICES_PIDS[@]}"; do
    local i
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  SERVICES_PIDS=()
  if [ -n "$SERVICES_DIR" ] && [ -d "$SERVICES_DIR" ]; then
    rm -rf "$SERVICES_DIR"
  fi
  SERVICES_DIR=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  # shellcheck disable=SC2046
  [ "$#" -gt 0 ] || set -- $(registry_servers)
  trap services_stop EXIT
  services_start "$@"
  env | grep '^STORE_TEST_' | sed 's/^/export /'
  echo "# servers are running; Ctrl-C stops them" >&2
  # `wait` returns at once on a signal, where a foreground `sleep` would
  # hold the trap back until it ends.
  trap 'kill "$!" 2>/dev/null; exit 0' INT TERM
  while :; do
    sleep 3600 &
    wait "$!"
  done
fi
