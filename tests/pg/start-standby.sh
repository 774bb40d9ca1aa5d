#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Starts a streaming hot standby of the throwaway server start.sh started
# in PRIMARY_STATE, and writes its libpq connection string to
# STATE_DIR/conninfo.
#
#   start-standby.sh [--fresh] PRIMARY_STATE STATE_DIR
#
# --fresh wipes STATE_DIR and copies the primary with pg_basebackup -R
# (standby.signal and primary_conninfo written for it); without it an
# existing standby in STATE_DIR is started again (the tests stop and
# restart a standby this way). The standby listens only on a unix socket in
# its own private directory, like the primary, and replays WAL the primary
# streams to it. stop.sh STATE_DIR stops it. Exits non-zero when the standby
# does not come up or does not accept read-only queries.
set -euo pipefail

fresh=0
if [ "${1:-}" = "--fresh" ]; then fresh=1; shift; fi
primary=${1:?usage: start-standby.sh [--fresh] PRIMARY_STATE STATE_DIR}
state=${2:?usage: start-standby.sh [--fresh] PRIMARY_STATE STATE_DIR}
primary=$(cd "$primary" && pwd)
mkdir -p "$state"
state=$(cd "$state" && pwd)

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/pg_basebackup" ]; then bindir=/usr/lib/postgresql/15/bin; fi
if [ ! -x "$bindir/pg_basebackup" ]; then
  echo "start-standby.sh: pg_basebackup not found (install postgresql-15)" >&2
  exit 1
fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

if [ ! -f "$primary/sockdir" ]; then
  echo "start-standby.sh: no server of start.sh in $primary" >&2
  exit 1
fi
primary_sock=$(cat "$primary/sockdir")

if [ "$fresh" -eq 1 ]; then
  if [ -f "$state/data/postmaster.pid" ]; then
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$state/data" -w -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -f "$state/sockdir" ]; then rm -rf "$(cat "$state/sockdir")"; fi
  rm -rf "${state:?}"/*
fi

if [ ! -f "$state/sockdir" ]; then
  # A unix socket path must stay under 108 bytes.
  if [ ${#state} -lt 70 ]; then
    sock="$state/sock"
  else
    sock=$(mktemp -d /tmp/consentry-pg.XXXXXX)
  fi
  echo "$sock" >"$state/sockdir"
fi
sock=$(cat "$state/sockdir")
mkdir -p "$sock"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$state" "$sock"; fi

if [ ! -f "$state/data/PG_VERSION" ]; then
  "${as_pg[@]}" "$bindir/pg_basebackup" -h "$primary_sock" -U postgres \
    -D "$state/data" -R -X stream -c fast >"$state/basebackup.log" 2>&1 || {
    echo "start-standby.sh: pg_basebackup failed; log follows" >&2
    cat "$state/basebackup.log" >&2
    exit 1
  }
fi

"${as_pg[@]}" "$bindir/pg_ctl" -D "$state/data" -l "$state/server.log" -w -t 60 \
  -o "-k $sock -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200 -c hot_standby=on -c wal_receiver_status_interval=1s" \
  start >/dev/null || {
  echo "start-standby.sh: the standby did not start; server log follows" >&2
  cat "$state/server.log" >&2 || true
  exit 1
}
echo "host=$sock dbname=postgres user=postgres" >"$state/conninfo"
# pg_ctl -w returns once the standby accepts connections (hot standby: after
# reaching a consistent state); say so only when a query answers.
"$bindir/psql" "$(cat "$state/conninfo")" -Atqc "SELECT pg_is_in_recovery()" >/dev/null || {
  echo "start-standby.sh: the standby does not answer queries" >&2
  exit 1
}
echo "start-standby.sh: PostgreSQL standby up: $(cat "$state/conninfo")"
