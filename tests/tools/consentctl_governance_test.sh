#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# consentctl's governance commands on real files, good and bad: policy show
# (approvals, policy §3), policy announce (§9), recipients monitor (§5) and
# the notice version recorded by consent grant.
#
#   consentctl_governance_test.sh CONSENTCTL SOURCE_DIR

set -u
CTL=$1
SRC=$2
POLICY=$SRC/policies/default.textproto
POLICY2=$SRC/policies/examples/2027-04-01.textproto
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failures=0
OUT=$T/out
ERR=$T/err

run() {
  local want=$1
  shift
  "$CTL" "$@" >"$OUT" 2>"$ERR"
  local got=$?
  if [[ $got != "$want" ]]; then
    echo "FAIL: consentctl $* exited $got, want $want"
    sed 's/^/  stdout: /' "$OUT" | head -20
    sed 's/^/  stderr: /' "$ERR" | head -20
    failures=$((failures + 1))
  fi
}
expect() {
  if ! grep -Eq -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") lacks /$2/ (last command above)"
    sed 's/^/  | /' "$1" | head -20
    failures=$((failures + 1))
  fi
}
reject() {
  if grep -Eq -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") has /$2/"
    failures=$((failures + 1))
  fi
}

# --- policy show: who approved the version ---------------------------------
run 0 policy show "$POLICY"
expect "$OUT" '^policy 2026-11-01'
expect "$OUT" 'notice version: notice-2026-11'
expect "$OUT" '2026-10-21T00:00:00.000Z  Personal Information Protection Manager'
reject "$OUT" 'NOT APPROVED'
run 0 policy show --json "$POLICY"
expect "$OUT" '"approved":true'
expect "$OUT" '"approver":"Personal Information Protection Manager"'
# The example next version records no approval: flagged, exit 1.
run 1 policy show "$POLICY2"
expect "$OUT" 'NOT APPROVED'
run 1 policy show --json "$POLICY2"
expect "$OUT" '"approved":false'
# An approval without an approver or time does not validate.
grep -v 'approver:' "$POLICY" >"$T/noapprover.textproto"
run 1 policy show "$T/noapprover.textproto"
expect "$ERR" 'policy.approvals\[0\].approver: must name who approved'
grep -v 'time { seconds: 1792540800 }' "$POLICY" >"$T/notime.textproto"
run 1 policy show "$T/notime.textproto"
expect "$ERR" 'policy.approvals\[0\].time: must say when'
# A control character in the approver is shown escaped, never raw.
sed 's/approver: "Personal/approver: "\\033[31mPersonal/' "$POLICY" >"$T/esc.textproto"
run 0 policy show "$T/esc.textproto"
expect "$OUT" '\\x1b\[31mPersonal'
run 2 policy show
run 1 policy show "$T/missing.textproto"

# --- policy announce: Japanese and English -----------------------------------
run 0 policy announce --from="$POLICY" --to="$POLICY2"
expect "$OUT" '個人情報保護方針の改定のお知らせ'
expect "$OUT" '改定前: 2026-11-01 → 改定後: 2027-04-01'
expect "$OUT" 'Announcement: our privacy policy changes'
expect "$OUT" 'From version 2026-11-01 to 2027-04-01'
expect "$ERR" 'version 2027-04-01 is NOT APPROVED'
run 0 policy announce --from="$POLICY" --to="$POLICY2" --lang=en
reject "$OUT" '改定'
run 2 policy announce --from="$POLICY" --to="$POLICY2" --lang=fr
run 2 policy announce --from="$POLICY"
run 2 policy announce "$POLICY" "$POLICY2"
# Reversed or unrelated versions are refused.
run 1 policy announce --from="$POLICY2" --to="$POLICY"
expect "$ERR" 'does not follow version'
run 1 policy announce --from="$POLICY" --to="$POLICY"
expect "$ERR" 'does not follow version'
run 1 policy announce --from="$T/missing.textproto" --to="$POLICY2"

# --- recipients monitor ------------------------------------------------------
cp "$SRC/policies/recipients.textproto" "$T/recipients.textproto"
REG=(--registry="$T/recipients.textproto" --policy="$POLICY")
LOG=$T/recipients.monitoring.textproto
# Without a monitoring log the shipped contractor is overdue since 2026-11-28.
run 1 recipients due "${REG[@]}" --as-of=2026-12-05
expect "$OUT" 'OVERDUE 2026-11-28.* callcenter-tokyo'
run 0 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed \
  --by="Privacy Officer" --time=2026-12-01
expect "$OUT" 'next monitoring due 2027-05-30'
expect "$LOG" 'monitored_by: "Privacy Officer"'
run 0 recipients due "${REG[@]}" --as-of=2026-12-05
expect "$OUT" 'no recipient due'
run 1 recipients due "${REG[@]}" --as-of=2027-06-01
expect "$OUT" 'OVERDUE 2027-05-30'
# A failed outcome refuses provision to the recipient.
run 0 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=failed \
  --by="Privacy Officer" --time=2026-12-02 --findings="shared logins; no incident log"
expect "$OUT" 'is refused until a later monitoring passes'
expect "$LOG" 'findings: "no incident log"'
run 0 recipients list "${REG[@]}" --as-of=2026-12-05
expect "$OUT" 'callcenter-tokyo .*may receive: recipient_monitoring_failed'
run 0 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed_with_findings \
  --by="Privacy Officer" --time=2026-12-03 --findings="remedied"
run 0 recipients list "${REG[@]}" --as-of=2026-12-05
expect "$OUT" 'callcenter-tokyo .*may receive: yes'
# Bad inputs change nothing.
cp "$LOG" "$T/log.before"
run 1 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=failed --by=x --time=2026-12-04
expect "$ERR" 'a failed monitoring must state findings'
run 1 recipients monitor nobody "${REG[@]}" --outcome=passed --by=x
expect "$ERR" "NOT_FOUND.*unknown recipient 'nobody'"
run 1 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by=x --time=2999-01-01
expect "$ERR" 'is in the future'
run 1 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by="   "
expect "$ERR" 'must name who monitored'
run 1 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by=$'\xff\xfe'
expect "$ERR" 'not valid UTF-8'
run 2 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=maybe --by=x
run 2 recipients monitor callcenter-tokyo "${REG[@]}" --by=x
run 2 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed
run 2 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by=x --time=soon
run 2 recipients monitor "${REG[@]}" --outcome=passed --by=x
cmp -s "$LOG" "$T/log.before" || { echo "FAIL: a refused result changed the log"; failures=$((failures + 1)); }
# A corrupt log is reported, never overwritten; a log that is a directory too.
printf 'results { outcome: BOGUS }\n' >"$LOG"
run 1 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by=x
expect "$ERR" 'recipients.monitoring.textproto'
expect "$LOG" 'BOGUS'
run 1 recipients list "${REG[@]}"
rm -f "$LOG"
mkdir "$LOG"
run 1 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by=x
expect "$ERR" 'not a regular file'
rmdir "$LOG"
# A symlink planted at a temporary name is never written through.
printf 'precious\n' >"$T/victim"
for i in $(seq 0 9); do ln -sf "$T/victim" "$LOG.tmp$i" 2>/dev/null; done
run 0 recipients monitor callcenter-tokyo "${REG[@]}" --outcome=passed --by=x --time=2026-12-04
expect "$T/victim" '^precious$'
# The shipped registry and log: the demo's contractor is up to date.
run 0 recipients due --registry="$SRC/policies/recipients.textproto" --policy="$POLICY" --as-of=2026-12-05
expect "$OUT" 'no recipient due'

# --- consent grant records the notice version --------------------------------
DB=$T/consent.db
run 0 consent grant --sqlite="$DB" --policy="$POLICY" m-1 marketing
run 0 consent show --sqlite="$DB" m-1
expect "$OUT" 'marketing +given .* policy 2026-11-01  notice notice-2026-11'
run 0 consent grant --sqlite="$DB" --policy="$POLICY" --notice-version=notice-2026-04 m-2 marketing
run 0 consent show --sqlite="$DB" --json m-2
expect "$OUT" '"notice_version": ?"notice-2026-04"'
run 0 consent export --sqlite="$DB" --out="$T/export.json"
expect "$T/export.json" '"notice_version": ?"notice-2026-11"'
expect "$T/export.json" '"notice_version": ?"notice-2026-04"'
run 0 consent grant --sqlite="$DB" --notice-version=notice-x m-3 marketing
run 0 consent show --sqlite="$DB" m-3
expect "$OUT" 'notice notice-x'
run 2 consent grant --sqlite="$DB" --policy="$POLICY" --notice-version= m-4 marketing
expect "$ERR" '--notice-version must not be empty'
run 1 consent grant --sqlite="$DB" --policy="$POLICY" --notice-version=$'n\xff' m-4 marketing
expect "$ERR" 'notice_version is not valid UTF-8'
run 1 consent grant --sqlite="$DB" --policy="$POLICY" --notice-version="$(head -c 5000 /dev/zero | tr '\0' n)" m-4 marketing
expect "$ERR" 'notice_version is too long'
run 1 consent show --sqlite="$DB" m-4

echo "$failures failures"
exit $((failures > 0))
