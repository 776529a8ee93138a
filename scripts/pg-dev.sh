#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on this machine, for trying webhookd on PostgreSQL and for
# the tests, which start theirs with this script too.
#
#   scripts/pg-dev.sh start [DIR] [--no-fsync]   initdb into DIR (default: a new temporary dir)
#                                                 and start; prints the libpq URI of database
#                                                 "webhooks" on the last line of stdout
#   scripts/pg-dev.sh stop DIR                    stop the server (the files stay)
#   scripts/pg-dev.sh restart DIR                 stop and start again on the same files
#   scripts/pg-dev.sh destroy DIR                 stop and remove DIR
#
# The server listens on a Unix socket in DIR only (no TCP port to collide with another cluster
# or test), trusts local connections, and runs as the `postgres` OS user when started by root:
# PostgreSQL refuses to run as root, and CI runs as root. --no-fsync is for tests only (a crash
# of the machine could lose commits; a crash of webhookd or PostgreSQL cannot). PG_DEV_OPTIONS
# adds server options (e.g. "-c shared_preload_libraries=pg_stat_statements").
set -euo pipefail

die() { echo "pg-dev: $*" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || die "PostgreSQL server binaries not found (scripts/setup.sh installs postgresql-15)"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

uri() { echo "postgresql:///webhooks?host=$1&port=5432&user=postgres"; }

start_server() {
  local dir=$1
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" start \
    >/dev/null || { tail -20 "$dir/server.log" >&2; die "the server did not start (log: $dir/server.log)"; }
}

cmd=${1:-}
case "$cmd" in
  start)
    dir=${2:-}
    fsync=on
    [ "${3:-}" = --no-fsync ] && fsync=off
    [ "$dir" = --no-fsync ] && { fsync=off; dir=""; }
    [ -n "$dir" ] || dir=$(mktemp -d /tmp/mambo-pg.XXXXXX)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C -N \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    # Enough connections for several webhookd instances and the tests' own.
    echo "-k $dir -c listen_addresses= -p 5432 -c fsync=$fsync -c max_connections=300" \
      "-c shared_buffers=128MB ${PG_DEV_OPTIONS:-}" >"$dir/options"
    start_server "$dir"
    if ! as_owner "$bin/psql" -h "$dir" -p 5432 -U postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = 'webhooks'" postgres | grep -q 1; then
      as_owner "$bin/createdb" -h "$dir" -p 5432 -U postgres webhooks
    fi
    echo "pg-dev: PostgreSQL running in $dir (stop: scripts/pg-dev.sh stop $dir)" >&2
    uri "$dir"
    ;;
  stop)
    [ -n "${2:-}" ] || die "usage: pg-dev.sh stop DIR"
    as_owner "$bin/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null
    ;;
  restart)
    [ -n "${2:-}" ] || die "usage: pg-dev.sh restart DIR"
    as_owner "$bin/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null
    start_server "$2"
    ;;
  destroy)
    [ -n "${2:-}" ] || die "usage: pg-dev.sh destroy DIR"
    as_owner "$bin/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$2"
    ;;
  *)
    die "usage: pg-dev.sh start [DIR] [--no-fsync] | stop DIR | restart DIR | destroy DIR"
    ;;
esac
