#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for development and CI: its own data directory, on 127.0.0.1 and
# a non-default port, with a role and database `onboard`.
#
#   scripts/postgres.sh start    install PostgreSQL (Debian packages) if missing, create and start
#                                the cluster, wait until it answers; safe to run again
#   scripts/postgres.sh env      print `export DATABASE_URL=…` (eval it)
#   scripts/postgres.sh outage N stop the server for N seconds, keeping its data (failure tests)
#   scripts/postgres.sh status   exit 0 when the cluster is running
#   scripts/postgres.sh stop     stop the cluster and delete its directory
#
# ONBOARD_PG_DIR (default /tmp/onboard-pg) and ONBOARD_PG_PORT (default 55432) choose where.
# The role's password is generated into $ONBOARD_PG_DIR/password (mode 600) and only ever passed
# through stdin or that file, never on a command line. PostgreSQL refuses to run as root, so when
# this script runs as root the server commands run as the `postgres` user.
set -euo pipefail
# shellcheck source=lib/debian-packages.sh
source "$(dirname "$0")/lib/debian-packages.sh"

PG_DIR=${ONBOARD_PG_DIR:-/tmp/onboard-pg}
PG_PORT=${ONBOARD_PG_PORT:-55432}
PG_HOST=127.0.0.1
DATA="$PG_DIR/data"
SOCKETS="$PG_DIR/run"
LOG="$PG_DIR/server.log"
PASSWORD_FILE="$PG_DIR/password"
ROLE=onboard
DATABASE=onboard

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# The newest installed server's binaries, or nothing.
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" && -x "$dir/pg_ctl" ]] && echo "$dir"
}

install_postgres() {
  [[ -n "$(pg_bin)" ]] && return 0
  # The package's own cluster (port 5432) is not used; policy-rc.d may keep it from starting.
  ensure_debian_packages postgres.sh "a PostgreSQL server" postgresql || exit 1
  [[ -n "$(pg_bin)" ]] || die "PostgreSQL was installed but no server binaries were found"
}

# Runs a server command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  local bin
  bin=$(pg_bin) || return 1
  [[ -f "$DATA/PG_VERSION" ]] && as_owner "$bin/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# psql as the cluster's superuser over the Unix socket (peer authentication).
superuser_psql() {
  as_owner "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKETS" -p "$PG_PORT" -d postgres "$@"
}

init_cluster() {
  local bin=$1 owner
  owner=$(id -un)
  mkdir -p "$PG_DIR" "$SOCKETS"
  chmod 700 "$PG_DIR"
  if [[ ! -s "$PASSWORD_FILE" ]]; then
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$PASSWORD_FILE")
  fi
  if [[ "$(id -u)" == 0 ]]; then
    chown -R postgres: "$PG_DIR"
    owner=postgres
  fi
  # Superuser by peer authentication on the socket only; TCP always needs a password.
  as_owner "$bin/initdb" -D "$DATA" -U "$owner" -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >>"$DATA/postgresql.conf" <<EOF

# ---- scripts/postgres.sh
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$SOCKETS'
# every test opens its own pool
max_connections = 300
EOF
}

create_role_and_database() {
  local password
  password=$(<"$PASSWORD_FILE")
  # CREATEDB so tests can give each case a database of its own. SQL goes through stdin.
  superuser_psql <<SQL
SELECT 'CREATE ROLE $ROLE LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')\\gexec
ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$password';
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE')\\gexec
SQL
}

database_url() {
  echo "postgres://$ROLE:$(<"$PASSWORD_FILE")@$PG_HOST:$PG_PORT/$DATABASE"
}

start() {
  install_postgres
  local bin
  bin=$(pg_bin)
  if ! is_running; then
    [[ -f "$DATA/PG_VERSION" ]] || init_cluster "$bin"
    as_owner "$bin/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -s >/dev/null ||
      die "the server did not start; see $LOG"
  fi
  local tries=0
  until as_owner "$bin/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT"; do
    tries=$((tries + 1))
    ((tries < 60)) || die "the server does not answer on $PG_HOST:$PG_PORT; see $LOG"
    sleep 0.5
  done
  create_role_and_database
  echo "postgres.sh: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') is running on $PG_HOST:$PG_PORT (data in $DATA)" >&2
}

stop() {
  local bin
  if bin=$(pg_bin) && [[ -f "$DATA/PG_VERSION" ]]; then
    as_owner "$bin/pg_ctl" stop -D "$DATA" -m fast -w -s >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  echo "postgres.sh: stopped and removed $PG_DIR" >&2
}

# Stops the server (keeping its data) for `seconds`, then starts it again: for failure tests.
outage() {
  local bin seconds=${1:-3}
  bin=$(pg_bin) || die "PostgreSQL is not installed"
  is_running || die "the server is not running"
  as_owner "$bin/pg_ctl" stop -D "$DATA" -m fast -w -s >/dev/null
  sleep "$seconds"
  as_owner "$bin/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -s >/dev/null ||
    die "the server did not start again; see $LOG"
  echo "postgres.sh: the server was down for ${seconds}s and is back" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  outage) outage "${2:-3}" ;;
  status)
    if is_running; then
      echo "running on $PG_HOST:$PG_PORT (data in $DATA)"
    else
      echo "not running"
      exit 1
    fi
    ;;
  env)
    is_running || die "not running: run scripts/postgres.sh start first"
    echo "export DATABASE_URL=$(database_url)"
    ;;
  *)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
