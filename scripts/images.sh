#!/usr/bin/env bash
# The project's container images, built on this machine from Debian's
# packages, and the Docker daemon they run on. Nothing is ever pulled: no
# registry is reachable, and none is asked. Source it, then:
#
#   docker_start        # a daemon that answers `docker info`; starts one if none does
#   images_build        # builds, loads or keeps every image below; `images_build redis` one
#   docker_stop         # removes the containers labelled store-rs.service, then stops
#                       # the daemon docker_start started (by PID); one it found running is left alone
#
# Run directly: `bash scripts/images.sh [NAME...]` starts a daemon if none
# answers, builds or loads every image (or those named), prints their names
# and leaves the daemon running; `bash scripts/images.sh stop` removes our containers and stops a
# daemon these scripts started (its PID is kept in $STORE_CACHE_DIR/dockerd.state).
#
# Images (recipe version IMAGES_RECIPE=1, a label store-rs.recipe=1 on each):
#
#   store-rs/base:bookworm     debootstrap --variant=minbase bookworm, from the mirror apt uses here
#   store-rs/redis:7           redis-server 7.0 on 0.0.0.0:6379, no persistence, protected mode off;
#                              prints "Ready to accept connections" on stdout
#   store-rs/postgres:15       PostgreSQL 15 on 0.0.0.0:5432; POSTGRES_USER (default postgres),
#                              POSTGRES_PASSWORD, POSTGRES_DB (default the user),
#                              POSTGRES_HOST_AUTH_METHOD (default scram-sha-256; trust),
#                              POSTGRES_INITDB_ARGS, PGDATA, /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh;
#                              arguments starting with '-' go to postgres (e.g. -c fsync=off);
#                              prints "database system is ready to accept connections" on
#                              stdout (the init server) and then on stderr (the server)
#   store-rs/mariadb:10.11     MariaDB 10.11 on 0.0.0.0:3306; MARIADB_ROOT_PASSWORD,
#                              MARIADB_ALLOW_EMPTY_ROOT_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD,
#                              MARIADB_ROOT_HOST (default %), MARIADB_DATABASE, MARIADB_USER,
#                              MARIADB_PASSWORD (each also as MYSQL_*; MYSQL_ALLOW_EMPTY_PASSWORD),
#                              /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh; arguments starting
#                              with '-' go to mariadbd; prints "mariadbd: ready for connections."
#                              (port: 0 for the init server) and then "port: 3306" on stderr
#   store-rs/mongodb:secantus  secantusd-rs (a MongoDB wire-compatible server, GPL-2.0, built by
#                              scripts/services.sh) on 0.0.0.0:27017 with --standalone, so its
#                              hello advertises no replica-set address the host cannot reach
#                              (no transactions; the store needs none); data in /data/db;
#                              prints "Waiting for connections" on stdout once the port accepts
#
# How they are made, without pulling and without network in any container:
# the base is `debootstrap` (on the host's network, from the mirror in
# /etc/apt/sources.list*) plus `docker import`; each service image is one
# layer on it: its .debs are downloaded by `apt-get install --download-only`
# in a chroot of the base rootfs (host network), installed from a read-only
# mount by a `docker run --network none` container of the base image
# (policy-rc.d exits 101, create_main_cluster = false), and `docker commit`ted
# with its entrypoint, labels, ports and command. No STOPSIGNAL (import and
# commit cannot set one): `docker stop` sends SIGTERM, which each server
# handles (Postgres: smart shutdown).
#
# Containers of these images should carry the label store-rs.service=NAME:
# docker_stop removes every such container. A container inherits the
# image's labels; a label set on the container overrides one of the same name.
#
# Each image carries the label store-rs.recipe=$IMAGES_RECIPE (mongodb also
# store-rs.secantus=<server version>); an image whose labels differ from this
# script's is loaded from the cache or rebuilt. Bump IMAGES_RECIPE whenever a
# recipe below changes. Debian's security updates do not change a recipe:
# delete the cache files to pick them up.
#
# Cache, in $STORE_CACHE_DIR/images (default ~/.cache/store-rs/images), about 1 GB:
#   base-bookworm.r1.rootfs.tar       the debootstrap output (built once, imported as the base)
#   NAME-TAG.r1[.sVERSION].tar        `docker save` of each service image (with the base
#                                     layer, which `docker load` skips when the daemon has
#                                     it), loaded when the daemon lacks the image
# The daemon's data root is $STORE_CACHE_DIR/docker (images there survive a
# daemon restart); its log and pidfile are in a temporary directory
# (/tmp/store-docker.*); $STORE_CACHE_DIR/dockerd.state holds "PID RUNDIR".
#
# Timings measured on this project's machines (2 cores, Debian 12, dockerd
# 20.10): cold (no cache files, empty data root, daemon not running) about
# 115 s: daemon start 1 s, debootstrap 36-64 s, base import 5 s, redis 6 s,
# postgres 28 s, mariadb 21 s, mongodb 1 s (secantusd-rs already built by
# services.sh; building it first adds about 6 minutes), saves 10 s.
# Warm (the cache files, a fresh empty data root) about 16 s: base import
# 4 s, loads 1-6 s each. A daemon that already has the images: 0.2 s.

IMAGES_RECIPE=1
IMAGES_NAMES=(base redis postgres mariadb mongodb)

images_log() { printf '    [images] %s\n' "$*" >&2; }

# The helpers of services.sh (svc_apt_install, svc_ensure_mongodb), sourced
# once: sourcing it again would forget the servers it has started.
if ! declare -F svc_apt_install >/dev/null; then
  # shellcheck source-path=SCRIPTDIR source=services.sh
  source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
fi

images_cache_root() { echo "${STORE_CACHE_DIR:-$HOME/.cache/store-rs}"; }
images_dir() { echo "$(images_cache_root)/images"; }
docker_data_root() { echo "$(images_cache_root)/docker"; }
docker_state_file() { echo "$(images_cache_root)/dockerd.state"; }

# Milliseconds since the epoch, and the seconds since such a start.
images_now() { date +%s%3N; }
images_since() { awk -v a="$1" -v b="$(images_now)" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }

docker_answers() { docker info >/dev/null 2>&1; }

# Whether PID $1 is a dockerd using our data root (a recorded PID may have
# been reused by another process since).
docker_is_ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline")
  [[ "$cmd" == *dockerd* && "$cmd" == *"--data-root $(docker_data_root) "* ]]
}

DOCKER_STARTED_PID=${DOCKER_STARTED_PID:-}
DOCKER_RUN_DIR=${DOCKER_RUN_DIR:-}

docker_start() {
  if docker_answers; then
    images_log "docker: a daemon is already running (server $(docker version -f '{{.Server.Version}}' 2>/dev/null)); left as it is"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    images_log "no Docker daemon answers, and starting one needs root"
    return 1
  fi
  local missing=() tool
  for tool in docker dockerd containerd runc iptables debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    svc_apt_install docker.io containerd runc iptables debootstrap || return 1
    command -v dockerd >/dev/null 2>&1 || { images_log "dockerd is not installed"; return 1; }
  fi
  local t0 lockfd run data pid
  t0=$(images_now)
  mkdir -p "$(images_cache_root)"
  # One start at a time: a second caller waits, then finds the daemon up.
  exec {lockfd}>"$(images_cache_root)/dockerd.lock"
  flock "$lockfd"
  if docker_answers; then
    exec {lockfd}>&-
    images_log "docker: a daemon started meanwhile is answering; left as it is"
    return 0
  fi
  run=$(mktemp -d "${TMPDIR:-/tmp}/store-docker.XXXXXX")
  data=$(docker_data_root)
  mkdir -p "$data"
  # Its own session: a Ctrl-C in the terminal does not reach it; stopped by PID.
  setsid dockerd --data-root "$data" --storage-driver overlay2 --pidfile "$run/dockerd.pid" \
    >"$run/dockerd.log" 2>&1 </dev/null &
  pid=
  for _ in $(seq 1 120); do
    if docker_answers; then
      pid=$(cat "$run/dockerd.pid" 2>/dev/null)
      break
    fi
    if [ -s "$run/dockerd.pid" ] && ! kill -0 "$(cat "$run/dockerd.pid")" 2>/dev/null; then
      break
    fi
    sleep 0.5
  done
  if [ -z "$pid" ]; then
    exec {lockfd}>&-
    images_log "dockerd did not answer within 60 s; its log ($run/dockerd.log):"
    tail -30 "$run/dockerd.log" >&2
    [ -s "$run/dockerd.pid" ] && docker_kill_pid "$(cat "$run/dockerd.pid")"
    return 1
  fi
  echo "$pid $run" >"$(docker_state_file)"
  exec {lockfd}>&-
  DOCKER_STARTED_PID=$pid
  DOCKER_RUN_DIR=$run
  export DOCKER_STARTED_PID DOCKER_RUN_DIR
  images_log "docker: started dockerd $(docker version -f '{{.Server.Version}}' 2>/dev/null) (PID $pid, data root $data, log $run/dockerd.log) in $(images_since "$t0")"
}

# TERM, up to 30 s, then KILL: PID $1 and the children it had (its containerd).
docker_kill_pid() {
  local pid=$1 children c
  children=$(ps -o pid= --ppid "$pid" 2>/dev/null)
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    images_log "dockerd $pid did not stop within 30 s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for c in $children; do
      kill -TERM "$c" 2>/dev/null || true
    done
    sleep 1
    for c in $children; do
      kill -KILL "$c" 2>/dev/null || true
    done
  fi
}

# The containers the project started (label store-rs.service), on any daemon.
docker_remove_ours() {
  docker_answers || return 0
  local ids
  ids=$(docker ps -aq --filter label=store-rs.service)
  if [ -n "$ids" ]; then
    images_log "docker: removing $(wc -w <<<"$ids") container(s) labelled store-rs.service"
    xargs -r docker rm -f <<<"$ids" >/dev/null
  fi
}

# Stops the daemon whose PID is $1 and whose run dir is $2 when it is ours.
docker_stop_pid() {
  local pid=$1 run=$2 t0
  t0=$(images_now)
  if docker_is_ours "$pid"; then
    docker_kill_pid "$pid"
    images_log "docker: stopped dockerd $pid in $(images_since "$t0")"
  else
    images_log "docker: dockerd $pid is no longer running"
  fi
  local state
  state=$(docker_state_file)
  if [ -f "$state" ] && [ "$(cut -d' ' -f1 "$state")" = "$pid" ]; then
    rm -f "$state"
  fi
  case "$run" in
    "${TMPDIR:-/tmp}"/store-docker.*) rm -rf "$run" ;;
  esac
}

docker_stop() {
  docker_remove_ours
  if [ -z "$DOCKER_STARTED_PID" ]; then
    docker_answers && images_log "docker: the daemon was running before; left running"
    return 0
  fi
  docker_stop_pid "$DOCKER_STARTED_PID" "$DOCKER_RUN_DIR"
  DOCKER_STARTED_PID=
  DOCKER_RUN_DIR=
}

# Stops the daemon recorded in $STORE_CACHE_DIR/dockerd.state, which some
# earlier run of these scripts started and left running.
docker_stop_recorded() {
  docker_remove_ours
  local state pid run
  state=$(docker_state_file)
  if [ ! -f "$state" ]; then
    images_log "docker: no daemon started by these scripts is recorded; nothing stopped"
    return 0
  fi
  read -r pid run <"$state"
  docker_stop_pid "$pid" "$run"
}

# ---------------------------------------------------------------------------
# Images

images_ref() {
  case "$1" in
    base) echo store-rs/base:bookworm ;;
    redis) echo store-rs/redis:7 ;;
    postgres) echo store-rs/postgres:15 ;;
    mariadb) echo store-rs/mariadb:10.11 ;;
    mongodb) echo store-rs/mongodb:secantus ;;
    *) images_log "unknown image: $1 (one of ${IMAGES_NAMES[*]})"; return 1 ;;
  esac
}

# The labels an up-to-date image carries, one key=value a line.
images_labels() {
  echo "store-rs.recipe=$IMAGES_RECIPE"
  [ "$1" = mongodb ] && echo "store-rs.secantus=$SECANTUS_VERSION"
  return 0
}

# The cache file of image $1: NAME-TAG.rN[.sVERSION].tar
images_tarball() {
  local ref suffix=""
  ref=$(images_ref "$1") || return 1
  ref=${ref#store-rs/}
  [ "$1" = mongodb ] && suffix=".s$SECANTUS_VERSION"
  echo "$(images_dir)/${ref/:/-}.r$IMAGES_RECIPE$suffix.tar"
}

images_rootfs_tarball() { echo "$(images_dir)/base-bookworm.r$IMAGES_RECIPE.rootfs.tar"; }

# Whether the daemon has image $1 with this recipe's labels.
images_current() {
  local ref labels kv
  ref=$(images_ref "$1") || return 1
  labels=$(docker image inspect -f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$ref" 2>/dev/null) || return 1
  while read -r kv; do
    grep -qxF "$kv" <<<"$labels" || return 1
  done < <(images_labels "$1")
}

# The Debian mirror apt uses here (the first bookworm source that is not the
# security archive), and the security archive, from the apt sources files.
images_apt_uris() {
  local suite=$1
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v s="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == s) print $i }'
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
        {
          types = ""; uris = ""; suites = ""; enabled = "yes"
          for (i = 1; i <= NF; i++) {
            line = $i
            if (line ~ /^#/) continue
            key = tolower(line); sub(/:.*/, "", key)
            val = line; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "enabled") enabled = tolower(val)
          }
          if (enabled == "no" || (" " types " ") !~ / deb /) next
          if ((" " suites " ") !~ (" " s " ")) next
          split(uris, u, /[ \t]+/); print u[1]
        }' "$f"
    done
  } | awk '!seen[$0]++'
}

images_mirror() {
  if [ -n "${IMAGES_DEBIAN_MIRROR:-}" ]; then
    echo "$IMAGES_DEBIAN_MIRROR"
    return 0
  fi
  local uri
  uri=$(images_apt_uris bookworm | grep -v -- '-security' | head -1)
  [ -n "$uri" ] || { images_log "no bookworm source in /etc/apt/sources.list*: set IMAGES_DEBIAN_MIRROR"; return 1; }
  echo "$uri"
}

images_security_mirror() { images_apt_uris bookworm-security | head -1; }

# ---------------------------------------------------------------------------
# Chroots

# Building (debootstrap, chroot, mounts) needs root; loading does not.
images_need_root() {
  [ "$(id -u)" = 0 ] && return 0
  images_log "building the images needs root (debootstrap, chroot): run bash scripts/images.sh as root once"
  return 1
}

# Unmounts what images_chroot_enter mounted under $1; refuses to go on while
# anything is still mounted there.
images_chroot_leave() {
  local root=$1 m
  for m in "$root/var/cache/apt/archives" "$root/proc"; do
    if mountpoint -q "$m" 2>/dev/null; then
      umount "$m" || umount -l "$m" || true
    fi
  done
  if findmnt -rno TARGET | grep -q "^$root/"; then
    images_log "still mounted under $root: not removing it"
    return 1
  fi
}

# Removes a build dir, never while something is mounted in it.
images_rm_build() {
  local dir=$1
  [ -d "$dir" ] || return 0
  [ -d "$dir/root" ] && { images_chroot_leave "$dir/root" || return 1; }
  rm -rf "$dir"
}

# Prepares chroot $1 for apt-get: proc, resolv.conf, no service starts, and
# the download dir $2 on its archives dir.
images_chroot_enter() {
  local root=$1 debs=$2
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  mkdir -p "$debs/partial" "$root/var/cache/apt/archives"
  mount --bind "$debs" "$root/var/cache/apt/archives"
}

# Downloads into $2 the packages that `apt-get install $3...` would install
# on the base rootfs unpacked in chroot $1 (on the host's network).
images_chroot_download() {
  local root=$1 debs=$2
  shift 2
  local rc=0
  # In a subshell whose EXIT trap unmounts, also when a signal ends it.
  (
    trap 'images_chroot_leave "$root"' EXIT
    images_chroot_enter "$root" "$debs" || exit 1
    chroot "$root" apt-get -qq -o APT::Sandbox::User=root update &&
      chroot "$root" apt-get -qq -y -o APT::Sandbox::User=root \
        install --download-only --no-install-recommends "$@"
  ) >"$root.apt.log" 2>&1 || rc=$?
  images_chroot_leave "$root" || rc=1
  if [ "$rc" != 0 ]; then
    images_log "apt-get install --download-only $* in the chroot failed; its output:"
    tail -30 "$root.apt.log" >&2
    return 1
  fi
  rm -rf "$debs/partial" "$debs/lock"
}

# debootstrap into $1 and make it a base: sources, no docs, no recommends.
images_debootstrap() {
  local root=$1 mirror security
  mirror=$(images_mirror) || return 1
  security=$(images_security_mirror)
  images_log "base: debootstrap --variant=minbase bookworm from $mirror"
  if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1; then
    images_log "debootstrap failed; its log:"
    tail -30 "$root.debootstrap.log" >&2
    images_chroot_leave "$root"
    return 1
  fi
  images_chroot_leave "$root" || return 1
  {
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-updates main"
    [ -n "$security" ] && echo "deb $security bookworm-security main"
  } >"$root/etc/apt/sources.list"
  cat >"$root/etc/dpkg/dpkg.cfg.d/store-rs-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$root/etc/apt/apt.conf.d/store-rs" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/*
  : >"$root/etc/resolv.conf"
  echo store-rs >"$root/etc/hostname"
}

# The files of service $1 under $2/rootfs (laid over the base before its
# packages are installed), and $2/post.sh, run in the build container after.
images_recipe_files() {
  local name=$1 root=$2/rootfs post=$2/post.sh
  local ep="$root/usr/local/bin/docker-entrypoint.sh"
  mkdir -p "$root/usr/local/bin" "$root/docker-entrypoint-initdb.d"
  : >"$post"
  case "$name" in
    redis)
      mkdir -p "$root/data"
      echo 'chown redis:redis /data' >>"$post"
      cat >"$ep" <<'EOF'
#!/bin/sh
# redis-server as the redis user; arguments starting with '-' (or a .conf
# file) are redis-server's. Protected mode is off unless the arguments say.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
EOF
      ;;
    postgres)
      mkdir -p "$root/etc/postgresql-common/createcluster.d" "$root/etc/dpkg/dpkg.cfg.d"
      echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.d/store-rs.conf"
      # The JIT's LLVM is 130 MB of the image and serves no test: left out.
      cat >"$root/etc/dpkg/dpkg.cfg.d/store-rs-nojit" <<'EOF'
path-exclude /usr/lib/*/libLLVM-*
path-exclude /usr/lib/*/libz3.so*
path-exclude /usr/lib/postgresql/*/lib/llvmjit*
path-exclude /usr/lib/postgresql/*/lib/bitcode/*
EOF
      cat >"$ep" <<'EOF'
#!/bin/bash
# PostgreSQL 15 like the official image: initdb on first start as the
# postgres user, honouring POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_HOST_AUTH_METHOD and POSTGRES_INITDB_ARGS; an init server (its
# log on stdout, through pg_ctl) for the database and the init scripts; then
# the server itself (its log on stderr). Each prints "database system is
# ready to accept connections".
set -Eeo pipefail
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3775 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-}
AUTH=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
psql_init() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"
}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$AUTH" != trust ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a password.
MSG
    exit 1
  fi
  run_initdb() {
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" -D "$PGDATA" -E UTF8 --locale=C.UTF-8 "$@" ${POSTGRES_INITDB_ARGS:-}
  }
  if [ -n "$POSTGRES_PASSWORD" ]; then
    run_initdb --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD")
  else
    run_initdb
  fi
  # No LLVM in this image: no JIT.
  printf "\nlisten_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"
  printf '\nhost all all all %s\n' "$AUTH" >>"$PGDATA/pg_hba.conf"
  # The init server: no TCP, the same arguments, its log on stdout.
  pg_ctl -D "$PGDATA" -w -t 60 -o "$(printf '%q ' "${@:2}" -c listen_addresses='' -p 5432)" start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql_init --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    # shellcheck disable=SC1090
    case "$f" in
      *.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "$0: running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
      *) [ -e "$f" ] && echo "$0: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
else
  echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
fi
exec "$@"
EOF
      ;;
    mariadb)
      # Logs on stderr (no log_error), all interfaces, no DNS look-ups.
      mkdir -p "$root/etc/mysql/mariadb.conf.d"
      cat >"$root/etc/mysql/mariadb.conf.d/99-store-rs.cnf" <<'EOF'
[mariadbd]
bind-address = 0.0.0.0
skip-name-resolve
host-cache-size = 0
EOF
      # No data directory in the image: the entrypoint makes one from the environment.
      cat >>"$post" <<'EOF'
rm -rf /var/lib/mysql
mkdir -p /var/lib/mysql /run/mysqld
chown mysql:mysql /var/lib/mysql /run/mysqld
EOF
      cat >"$ep" <<'EOF'
#!/bin/bash
# MariaDB 10.11 like the official image: on first start, a data directory,
# an init server without networking (it logs "port: 0") for the users, the
# database and the init scripts, then mariadbd itself on 0.0.0.0:3306. Logs
# on stderr.
set -Eeo pipefail
if [ "${1:0:1}" = '-' ]; then
  set -- mariadbd "$@"
fi
case "$1" in
  mariadbd | mysqld) ;;
  *) exec "$@" ;;
esac
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown mysql:mysql "$DATADIR" /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
fi
# MARIADB_X, or the MYSQL_X the official images also read.
for v in ROOT_PASSWORD ROOT_HOST DATABASE USER PASSWORD RANDOM_ROOT_PASSWORD ALLOW_EMPTY_ROOT_PASSWORD; do
  m=MARIADB_$v y=MYSQL_$v
  [ "$v" = ALLOW_EMPTY_ROOT_PASSWORD ] && y=MYSQL_ALLOW_EMPTY_PASSWORD
  export "$m=${!m:-${!y:-}}"
done
MARIADB_ROOT_HOST=${MARIADB_ROOT_HOST:-%}
str() { local s=${1//\\/\\\\}; printf "'%s'" "${s//\'/\\\'}"; }
ident() { printf '`%s`' "${1//\`/\`\`}"; }
client() { mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@"; }
if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    echo 'error: database is uninitialized and no root password option is set: MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD' >&2
    exit 1
  fi
  if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ] && [ -z "$MARIADB_ROOT_PASSWORD" ]; then
    MARIADB_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
  fi
  echo 'Initializing database files'
  mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve --skip-log-bin >/dev/null
  echo 'Database files initialized'
  "${@:1}" --skip-networking --socket="$SOCKET" --skip-log-bin --default-time-zone=SYSTEM \
    --loose-innodb-buffer-pool-load-at-startup=0 &
  pid=$!
  for _ in $(seq 1 300); do
    client -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo 'error: the init server stopped' >&2; exit 1; }
    sleep 0.1
  done
  pw=$(str "$MARIADB_ROOT_PASSWORD")
  {
    echo "DROP USER IF EXISTS root@'127.0.0.1', root@'::1';"
    echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');"
    echo "SET PASSWORD FOR 'root'@'localhost' = PASSWORD($pw);"
    if [ "$MARIADB_ROOT_HOST" != localhost ]; then
      h=$(str "$MARIADB_ROOT_HOST")
      echo "CREATE USER 'root'@$h IDENTIFIED BY $pw;"
      echo "GRANT ALL ON *.* TO 'root'@$h WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@$h WITH GRANT OPTION;"
    fi
    if [ -n "$MARIADB_DATABASE" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(ident "$MARIADB_DATABASE");"
    fi
    if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
      echo "CREATE USER $(str "$MARIADB_USER")@'%' IDENTIFIED BY $(str "$MARIADB_PASSWORD");"
      if [ -n "$MARIADB_DATABASE" ]; then
        echo "GRANT ALL ON $(ident "$MARIADB_DATABASE").* TO $(str "$MARIADB_USER")@'%';"
      fi
    fi
  } | client --database=mysql
  export MYSQL_PWD=$MARIADB_ROOT_PASSWORD
  db=()
  [ -n "$MARIADB_DATABASE" ] && db=(--database="$MARIADB_DATABASE")
  for f in /docker-entrypoint-initdb.d/*; do
    # shellcheck disable=SC1090
    case "$f" in
      *.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "$0: running $f"; client "${db[@]}" <"$f" ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | client "${db[@]}" ;;
      *) [ -e "$f" ] && echo "$0: ignoring $f" ;;
    esac
  done
  unset MYSQL_PWD
  kill -TERM "$pid"
  wait "$pid" || true
  echo 'MariaDB init process done. Ready for start up.'
fi
exec "$@"
EOF
      ;;
    mongodb)
      cp "$STORE_TEST_MONGODB_SERVER" "$root/usr/local/bin/secantusd-rs"
      chmod 755 "$root/usr/local/bin/secantusd-rs"
      mkdir -p "$root/data/db" "$root/etc/secantus"
      : >"$root/etc/secantus/secantusd.toml"
      cat >"$ep" <<'EOF'
#!/bin/bash
# secantusd-rs, a MongoDB wire-compatible server, on 0.0.0.0:27017. It does
# not print mongod's "Waiting for connections": this script does, on
# stdout, once the port accepts connections. Arguments starting with '-'
# go to the server; mongod's --bind_ip_all, --bind_ip and --replSet are
# accepted and ignored (there is no replica set to initiate here).
set -Eeo pipefail
if [ "$#" -gt 0 ] && [ "${1:0:1}" != '-' ]; then
  exec "$@"
fi
port=27017
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --bind_ip_all) shift ;;
    --bind_ip | --replSet) shift 2 ;;
    --bind_ip=* | --replSet=*) shift ;;
    --port) port=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
secantusd-rs --config /etc/secantus/secantusd.toml --host 0.0.0.0 --port "$port" \
  --storage-path /data/db --log-file-max 8MB --cache-size 256M --standalone "${args[@]}" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' INT TERM
for _ in $(seq 1 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    # shellcheck disable=SC2016
    printf '{"t":{"$date":"%s"},"s":"I","c":"NETWORK","msg":"Waiting for connections","attr":{"port":%s,"ssl":"off"}}\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$port"
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
# `wait` returns early when a signal arrives; wait again for the exit.
rc=0
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" && rc=0 || rc=$?
done
exit "$rc"
EOF
      ;;
  esac
  chmod 755 "$ep"
}

# The `--change` instructions of image $1 (for docker import or commit), one a line.
images_changes() {
  local kv
  while read -r kv; do
    echo "LABEL $kv"
  done < <(images_labels "$1")
  local path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  case "$1" in
    base)
      echo "$path"
      echo 'CMD ["bash"]'
      ;;
    redis)
      echo "$path"
      echo 'WORKDIR /data'
      echo 'EXPOSE 6379'
      echo 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
      echo "CMD [\"redis-server\", \"--bind\", \"0.0.0.0\", \"--protected-mode\", \"no\", \"--save\", \"\", \"--appendonly\", \"no\"]"
      ;;
    postgres)
      echo 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
      echo 'ENV PGDATA=/var/lib/postgresql/data'
      echo 'EXPOSE 5432'
      echo 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
      echo 'CMD ["postgres"]'
      ;;
    mariadb)
      echo "$path"
      echo 'EXPOSE 3306'
      echo 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
      echo 'CMD ["mariadbd"]'
      ;;
    mongodb)
      echo "$path"
      echo 'WORKDIR /data/db'
      echo 'EXPOSE 27017'
      echo 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
      echo 'CMD []'
      ;;
  esac
}

# docker import of rootfs tarball $2 as image $1.
images_import() {
  local name=$1 tarball=$2 ref args=() c
  ref=$(images_ref "$name") || return 1
  while IFS= read -r c; do
    args+=(--change "$c")
  done < <(images_changes "$name")
  docker import "${args[@]}" "$tarball" "$ref" >/dev/null
}

# The base rootfs tarball, debootstrapped once into the cache.
images_ensure_rootfs() {
  local tarball t0 build
  tarball=$(images_rootfs_tarball)
  [ -s "$tarball" ] && return 0
  images_need_root || return 1
  t0=$(images_now)
  build=$(mktemp -d "${TMPDIR:-/tmp}/store-images.XXXXXX")
  if ! images_debootstrap "$build/root"; then
    images_rm_build "$build"
    return 1
  fi
  tar --numeric-owner -C "$build/root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  images_rm_build "$build"
  [ -s "$tarball" ] || return 1
  local f
  for f in "$(images_dir)"/base-bookworm.r*.rootfs.tar*; do
    [ "$f" != "$tarball" ] && rm -f "$f"
  done
  images_log "base: rootfs $(du -h "$tarball" | cut -f1) in $(images_since "$t0") ($tarball)"
}

# The Debian packages of service $1.
images_packages() {
  case "$1" in
    redis) echo redis-server ;;
    postgres) echo postgresql-15 ;;
    mariadb) echo mariadb-server ;;
  esac
}

# What runs in the build container: the recipe's files, then its packages
# from the mounted .debs (no network), then post.sh.
images_install_script() {
  cat <<'EOF'
#!/bin/bash
set -Eeuo pipefail
export DEBIAN_FRONTEND=noninteractive
tar -C /build/files/rootfs -cf - . | tar -C / -xf - --no-overwrite-dir
shopt -s nullglob
debs=(/build/debs/*.deb)
if [ "${#debs[@]}" -gt 0 ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${debs[@]}"
  rm -f /usr/sbin/policy-rc.d
fi
. /build/files/post.sh
rm -rf /var/cache/apt/*.bin /var/log/apt/* /tmp/* /root/.bash_history
EOF
}

# Builds service image $1 on store-rs/base:bookworm: the packages are
# downloaded in a chroot of the base rootfs (on the host's network), then
# installed offline in a container without network, which is committed.
images_build_service() {
  local name=$1 build root stage t0 t1 rc=0 pkgs container ref
  t0=$(images_now)
  ref=$(images_ref "$name") || return 1
  images_need_root || return 1
  build=$(mktemp -d "${TMPDIR:-/tmp}/store-images.XXXXXX")
  root="$build/root" stage="$build/stage"
  mkdir -p "$root" "$build/debs" "$stage/rootfs"
  chmod 755 "$build" "$stage" "$stage/rootfs"
  pkgs=$(images_packages "$name")
  if [ -n "$pkgs" ]; then
    # shellcheck disable=SC2086
    tar --numeric-owner -C "$root" -xf "$(images_rootfs_tarball)" &&
      images_chroot_download "$root" "$build/debs" $pkgs || rc=1
    images_chroot_leave "$root" && rm -rf "$root" || rc=1
    [ "$rc" = 0 ] && images_log "$name: downloaded $(find "$build/debs" -name '*.deb' | wc -l) packages ($(du -sh "$build/debs" | cut -f1)) in $(images_since "$t0")"
  fi
  if [ "$rc" = 0 ] && [ "$name" = mongodb ]; then
    svc_ensure_mongodb || rc=1
  fi
  if [ "$rc" = 0 ]; then
    images_recipe_files "$name" "$stage" || rc=1
    images_install_script >"$stage/install.sh"
  fi
  container="store-rs-build-$name-$$"
  if [ "$rc" = 0 ]; then
    t1=$(images_now)
    docker run --name "$container" --network none \
      -v "$build/debs:/build/debs:ro" -v "$stage:/build/files:ro" \
      store-rs/base:bookworm bash /build/files/install.sh >"$build/install.log" 2>&1 || {
      images_log "$name: the install in the build container failed; its output:"
      tail -30 "$build/install.log" >&2
      rc=1
    }
    [ "$rc" = 0 ] && images_log "$name: installed in a container without network in $(images_since "$t1")"
  fi
  if [ "$rc" = 0 ]; then
    local args=() c
    while IFS= read -r c; do
      args+=(--change "$c")
    done < <(images_changes "$name")
    t1=$(images_now)
    docker commit "${args[@]}" "$container" "$ref" >/dev/null || rc=1
    [ "$rc" = 0 ] && images_log "$name: committed in $(images_since "$t1")"
  fi
  docker rm -f "$container" >/dev/null 2>&1 || true
  images_rm_build "$build" || rc=1
  return "$rc"
}

images_save() {
  local name=$1 tarball t0
  tarball=$(images_tarball "$name")
  t0=$(images_now)
  if ! docker save -o "$tarball.tmp" "$(images_ref "$name")" || ! mv "$tarball.tmp" "$tarball"; then
    rm -f "$tarball.tmp"
    return 1
  fi
  images_log "$name: saved $(du -h "$tarball" | cut -f1) in $(images_since "$t0") ($tarball)"
}

# Makes image $1 current: kept, loaded from the cache, or built (and saved).
images_make() {
  local name=$1 ref tarball t0
  ref=$(images_ref "$name") || return 1
  if images_current "$name"; then
    images_log "$name: $ref is up to date"
    return 0
  fi
  t0=$(images_now)
  if [ "$name" = base ]; then
    images_ensure_rootfs || return 1
    images_import base "$(images_rootfs_tarball)" || return 1
    images_log "base: imported $ref in $(images_since "$t0")"
    return 0
  fi
  tarball=$(images_tarball "$name")
  if [ -s "$tarball" ]; then
    if docker load -q -i "$tarball" >/dev/null && images_current "$name"; then
      images_log "$name: loaded $ref from $tarball in $(images_since "$t0")"
      return 0
    fi
    images_log "$name: $tarball did not load as $ref with this recipe: building it"
  fi
  images_current base || images_make base || return 1
  images_ensure_rootfs || return 1
  images_build_service "$name" || return 1
  images_current "$name" || { images_log "$name: $ref lacks the recipe's labels after the build"; return 1; }
  images_log "$name: built $ref in $(images_since "$t0")"
  images_save "$name" || return 1
  # Older recipes' files of this image.
  local f stem
  stem=$(basename "$tarball")
  stem=${stem%%.r*}
  for f in "$(images_dir)/$stem".r*.tar; do
    [ "$f" != "$tarball" ] && [ -f "$f" ] && rm -f "$f"
  done
  return 0
}

# images_build [NAME...]: every image (or those named) current on the
# daemon, which docker_start starts when none answers.
images_build() {
  [ "$#" -gt 0 ] || set -- "${IMAGES_NAMES[@]}"
  docker_answers || docker_start || return 1
  local t0 dir lockfd name rc=0
  t0=$(images_now)
  dir=$(images_dir)
  mkdir -p "$dir"
  # One build at a time per cache.
  exec {lockfd}>"$dir/.lock"
  flock "$lockfd"
  # Build containers an interrupted build left behind (builds hold the lock).
  docker ps -aq --filter name=^store-rs-build- | xargs -r docker rm -f >/dev/null
  for name in "$@"; do
    images_make "$name" || { rc=1; break; }
  done
  # Images a newer build or load replaced.
  docker image prune -f --filter label=store-rs.recipe >/dev/null 2>&1 || true
  exec {lockfd}>&-
  if [ "$rc" != 0 ]; then
    images_log "images: failed after $(images_since "$t0")"
    return 1
  fi
  images_log "images: $* ready in $(images_since "$t0")"
}

# The references of the images, one a line.
images_names() {
  local name
  for name in "${IMAGES_NAMES[@]}"; do
    images_ref "$name"
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  export STORE_CACHE_DIR="${STORE_CACHE_DIR:-$HOME/.cache/store-rs}"
  case "${1:-build}" in
    stop) docker_stop_recorded ;;
    names) images_names ;;
    build | base | redis | postgres | mariadb | mongodb)
      [ "${1:-}" = build ] && shift
      docker_start
      images_build "$@"
      images_names
      if [ -n "$DOCKER_STARTED_PID" ]; then
        images_log "dockerd $DOCKER_STARTED_PID keeps running; stop it with: bash scripts/images.sh stop"
      fi
      ;;
    *)
      echo "usage: bash scripts/images.sh [build] [${IMAGES_NAMES[*]}] | stop | names" >&2
      exit 2
      ;;
  esac
fi
