#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Stops the server start.sh started in STATE_DIR (waits until it is gone).
#
#   stop.sh [--cleanup] STATE_DIR
#
# --cleanup also removes the cluster and the socket directory.
set -euo pipefail

cleanup=0
if [ "${1:-}" = "--cleanup" ]; then cleanup=1; shift; fi
state=${1:?usage: stop.sh [--cleanup] STATE_DIR}

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/pg_ctl" ]; then bindir=/usr/lib/postgresql/15/bin; fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

if [ -f "$state/data/postmaster.pid" ]; then
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$state/data" -w -t 60 -m fast stop >/dev/null
fi
if [ "$cleanup" -eq 1 ]; then
  if [ -f "$state/sockdir" ]; then rm -rf "$(cat "$state/sockdir")"; fi
  rm -rf "$state"
fi
