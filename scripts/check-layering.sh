#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Checks the dependency rule between the library's subsystems: every
# `#include "..."` in src/ and include/consentry/ names a file of a subsystem
# that the including subsystem may use. Exits 1 listing each violation
# (file:line, the include, the rule it breaks); 0 when there is none.
#
# Subsystems (docs/architecture.md): a file in src/<name>/ belongs to <name>;
# a public header include/consentry/<h>.h belongs to the subsystem the table
# below gives it. The rule, as "who: what it may include":
#
#   util:       util
#   core:       util core, and audit's public headers (the AuditSink a
#               Guard is given): never store, access, compliance, or audit's
#               implementation in src/audit/
#   audit:      util audit, and core's public headers (the vocabulary of an
#               event: purposes, reasons, decisions)
#   store:      util store, core's public headers (ConsentStore), and
#               compliance's public headers (RequestStore,
#               ProvisionRecordStore, which the record stores implement)
#   access:     util core audit access
#   compliance: util core audit access compliance
#   testing:    anything (test peers; never included by src/ outside it)
#
# Usage: scripts/check-layering.sh [ROOT]   (default: the checkout)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# The subsystem of a public header, by name.
public_subsystem() {
  case "$1" in
    export.h|signing.h) echo util ;;
    consent.h|decision.h|guard.h|options.h|policy.h|protected.h|\
    proto_io.h|purpose.h|policy_scheduler.h) echo core ;;
    audit.h|audit_keys.h|audit_log.h|audit_log_set.h|audit_retention.h) echo audit ;;
    sqlite_store.h|sqlite_records.h|postgres_store.h|postgres_records.h) echo store ;;
    field_access.h|projection.h|retention.h|statistics.h) echo access ;;
    disclosure_sources.h|leak.h|notice.h|policy_diff.h|provision.h|\
    receipt.h|recipients.h|requests.h)
      echo compliance ;;
    *) echo unknown ;;
  esac
}

# allowed <who> <subsystem> <public|private>: exit 0 when permitted.
allowed() {
  local who=$1 what=$2 kind=$3
  [ "$who" = "$what" ] && return 0
  [ "$what" = util ] && return 0
  case "$who:$what:$kind" in
    testing:*) return 0 ;;
    core:audit:public) return 0 ;;
    audit:core:public) return 0 ;;
    store:core:public|store:compliance:public) return 0 ;;
    access:core:*|access:audit:*) return 0 ;;
    compliance:core:*|compliance:audit:*|compliance:access:*) return 0 ;;
  esac
  return 1
}

violations=0
checked=0
while IFS= read -r path; do
  case "$path" in
    src/*/*) who=${path#src/}; who=${who%%/*} ;;
    include/consentry/*) who=$(public_subsystem "${path#include/consentry/}") ;;
    *) continue ;;
  esac
  if [ "$who" = unknown ]; then
    echo "$path: public header of no subsystem: add it to scripts/check-layering.sh" >&2
    violations=$((violations + 1))
    continue
  fi
  case "$who" in
    util|core|audit|store|access|compliance|testing) ;;
    *)
      echo "$path: src/$who/ is no subsystem: add it to scripts/check-layering.sh" >&2
      violations=$((violations + 1))
      continue ;;
  esac
  checked=$((checked + 1))
  while IFS=: read -r line inc; do
    inc=${inc#*\"}; inc=${inc%%\"*}
    case "$inc" in
      src/*/*) what=${inc#src/}; what=${what%%/*}; kind=private ;;
      consentry/v1/*) continue ;;  # generated protos: shared vocabulary
      consentry/*) what=$(public_subsystem "${inc#consentry/}"); kind=public ;;
      *) continue ;;
    esac
    if [ "$what" = testing ] && [ "$who" != testing ]; then
      echo "$path:$line: includes $inc: test peers are for tests only" >&2
      violations=$((violations + 1))
    elif ! allowed "$who" "$what" "$kind"; then
      echo "$path:$line: includes $inc: $who may not use $what's $kind code" >&2
      violations=$((violations + 1))
    fi
  done < <(grep -n '^#include "' "$path" || true)
done < <(find src include/consentry -type f | LC_ALL=C sort)

if [ "$violations" -gt 0 ]; then
  echo "check-layering: $violations violation(s) in $checked files" >&2
  exit 1
fi
echo "check-layering: $checked files follow the dependency rule"
