#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Starts a throwaway PostgreSQL 15 for the tests and writes its libpq
# connection string to STATE_DIR/conninfo.
#
#   start.sh [--fresh] STATE_DIR
#
# --fresh wipes STATE_DIR and runs initdb; without it an existing cluster in
# STATE_DIR is started again (the tests restart a server this way). The
# server listens only on a unix socket in a private directory
# (listen_addresses=''), trusts local connections, and runs with fsync=off:
# the tests kill clients, never the server, so server durability is not
# under test. Exits non-zero when the server does not come up.
set -euo pipefail

fresh=0
if [ "${1:-}" = "--fresh" ]; then fresh=1; shift; fi
state=${1:?usage: start.sh [--fresh] STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/initdb" ]; then bindir=/usr/lib/postgresql/15/bin; fi
if [ ! -x "$bindir/initdb" ]; then
  echo "start.sh: PostgreSQL server binaries not found (install postgresql-15)" >&2
  exit 1
fi

as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

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

if [ ! -f "$state/data/PG_VERSION" ]; then
  mkdir -p "$state/data"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$state" "$sock"; fi
  "${as_pg[@]}" "$bindir/initdb" -D "$state/data" --locale=C -E UTF8 -A trust \
    -U postgres >"$state/initdb.log" 2>&1 || {
    echo "start.sh: initdb failed; see $state/initdb.log" >&2
    cat "$state/initdb.log" >&2
    exit 1
  }
fi
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$state" "$sock"; fi

"${as_pg[@]}" "$bindir/pg_ctl" -D "$state/data" -l "$state/server.log" -w -t 60 \
  -o "-k $sock -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || {
  echo "start.sh: PostgreSQL did not start; server log follows" >&2
  cat "$state/server.log" >&2 || true
  exit 1
}
echo "host=$sock dbname=postgres user=postgres" >"$state/conninfo"
echo "start.sh: PostgreSQL up: $(cat "$state/conninfo")"
