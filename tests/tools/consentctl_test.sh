#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Runs the built consentctl on real files, good and bad, and checks outputs
# and exit statuses.
#
#   consentctl_test.sh CONSENTCTL FIXTURE SOURCE_DIR [browser]
#
# With "browser", checks only the HTML report in headless chromium (which
# scripts/install-deps.sh installs); a missing chromium fails the test.

set -u
CTL=$1
FIXTURE=$2
SRC=$3
MODE=${4:-cli}
POLICY=$SRC/policies/default.textproto
POLICY2=$SRC/policies/examples/2027-04-01.textproto
REGISTRY=$SRC/policies/recipients.textproto
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failures=0
OUT=$T/out
ERR=$T/err

# run EXPECTED_STATUS cmd... : runs consentctl, keeps stdout/stderr.
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
# expect FILE PATTERN: the file contains the (extended) regex.
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

# The access log fixture: 14 days ending at END, a bulk read 5 hours before.
END=1795132800  # 2026-11-20T00:00:00Z
AUDIT=$T/audit
"$FIXTURE" "$AUDIT" "$END" >/dev/null || { echo "FAIL: fixture"; exit 1; }

# --- requests and provision records in the store ----------------------------
# Run on SQLite (cli mode) and on PostgreSQL (postgres mode): STORE names the
# store, FRESH another, empty one. Every command is its own process.
durable_suite() {
  local P=$1
  local D=(--policy="$POLICY" "${STORE[@]}" --audit-dir="$T/$P-audit"
    --answers-dir="$T/$P-answers")
  # Provision and receipt records: two from 2020 (kept until 2023), one now.
  cat >"$T/$P-records.textproto" <<'REC'
provisions {
  id: "prov-old" provision_time { seconds: 1577836800 }
  recipient_id: "univ-lab" recipient_name: "Joint study laboratory"
  purpose: "occasion.joint_study" subjects: "m-1" categories: "measurement"
}
provisions {
  id: "prov-new" provision_time { seconds: 1790000000 }
  recipient_id: "univ-lab" subjects: "m-1" categories: "measurement"
}
receipts {
  id: "rcpt-old" receipt_time { seconds: 1577836900 }
  provider_name: "Partner clinic" acquisition_circumstances: "referral"
  subjects: "m-1" categories: "contact"
}
REC
  run 0 recipients add-records "${STORE[@]}" "$T/$P-records.textproto"
  expect "$OUT" '^added prov-old$'
  run 1 recipients add-records "${STORE[@]}" "$T/$P-records.textproto"
  expect "$ERR" 'ALREADY_EXISTS'
  # All or none: a new record before a clashing one is not added either.
  cat >"$T/$P-clash.textproto" <<'REC'
provisions {
  id: "prov-extra" provision_time { seconds: 1790000000 }
  recipient_id: "univ-lab" subjects: "m-2" categories: "measurement"
}
provisions {
  id: "prov-new" provision_time { seconds: 1790000000 }
  recipient_id: "univ-lab" subjects: "m-2" categories: "measurement"
}
REC
  run 1 recipients add-records "${STORE[@]}" "$T/$P-clash.textproto"
  expect "$ERR" 'nothing was added.*ALREADY_EXISTS.*prov-new'
  run 0 recipients records "${STORE[@]}" --subject=m-2
  expect "$OUT" '^no records$'
  run 1 recipients add-records "${STORE[@]}" "$T/$P-absent.textproto"
  expect "$ERR" "$P-absent.textproto"
  run 0 recipients records "${STORE[@]}" --subject=m-1
  expect "$OUT" '^prov-old  provided 2020-01-01T00:00:00Z  to univ-lab'
  expect "$OUT" '^prov-new '
  expect "$OUT" '^rcpt-old  received .* from Partner clinic'
  expect "$OUT" 'kept until 20'
  run 0 recipients records "${STORE[@]}" --recipient=univ-lab --json
  expect "$OUT" '"id": ?"prov-new"'
  reject "$OUT" 'rcpt-old'
  run 0 recipients records "${STORE[@]}" --subject=nobody
  expect "$OUT" '^no records$'
  run 2 recipients records "${STORE[@]}"
  expect "$ERR" 'one of --subject or --recipient'
  run 2 recipients records "${STORE[@]}" --subject=m-1 --recipient=univ-lab
  # The purge: refused without an access log or at a future time; then it
  # removes exactly the records past their keeping period, audited.
  run 2 recipients purge "${STORE[@]}"
  expect "$ERR" '--audit-dir is required'
  run 2 recipients purge "${STORE[@]}" --audit-dir="$T/$P-purge" --as-of=2100-01-01
  expect "$ERR" 'in the future'
  run 0 recipients purge "${STORE[@]}" --audit-dir="$T/$P-purge" --as-of=2022-01-01
  expect "$OUT" '^purged 0 provision and 0 receipt records'
  run 0 recipients purge "${STORE[@]}" --audit-dir="$T/$P-purge" --actor=dpo
  expect "$OUT" '^removed prov-old$'
  expect "$OUT" '^removed rcpt-old$'
  reject "$OUT" 'prov-new'
  run 0 recipients records "${STORE[@]}" --subject=m-1
  expect "$OUT" '^prov-new '
  reject "$OUT" 'prov-old|rcpt-old'
  run 0 audit query "$T/$P-purge" --accessor=dpo --json
  expect "$OUT" '"detail":"provisions: prov-old; receipts: rcpt-old"'
  run 0 recipients purge "${STORE[@]}" --audit-dir="$T/$P-purge" --json
  expect "$OUT" '"provisions":\[\],"receipts":\[\]'
  # An access log chained under HMAC keys by id (--hmac-key-dir): each
  # command's segment names the current key; rotation keeps it verifiable.
  K=$T/$P-keys
  mkdir -p "$K"
  printf '%064x\n' 1 >"$K/k-2026.key"
  echo k-2026 >"$K/CURRENT"
  run 0 recipients purge "${STORE[@]}" --audit-dir="$T/$P-keyed" --hmac-key-dir="$K" --as-of=2022-01-01
  printf '%064x\n' 2 >"$K/k-2027.key"
  echo k-2027 >"$K/CURRENT"
  run 0 recipients purge "${STORE[@]}" --audit-dir="$T/$P-keyed" --hmac-key-dir="$K" --as-of=2022-01-01
  run 0 audit verify "$T/$P-keyed" --hmac-key-dir="$K"
  expect "$OUT" '^ok: [0-9]+ records in 2 segments'
  run 1 audit verify "$T/$P-keyed"
  expect "$ERR" 'with an HMAC key'
  mv "$K/k-2026.key" "$K/k-2026.retired"
  run 1 audit verify "$T/$P-keyed" --hmac-key-dir="$K"
  expect "$ERR" "audit-0000000000000000.seg.*'k-2026'"
  mkdir "$K/k-2026.key"
  run 1 audit verify "$T/$P-keyed" --hmac-key-dir="$K"
  expect "$ERR" 'directory'
  run 1 recipients purge "${STORE[@]}" --audit-dir="$T/$P-keyed2" --hmac-key-dir="$T/$P-no-keys"
  expect "$ERR" 'no key directory'

  # A request's life, one consentctl process per step.
  run 0 request open "${D[@]}" --kind=disclosure --subject=m-1 --requester="Hanako Yamada"
  expect "$OUT" '^req-1$'
  run 1 request package "${STORE[@]}" --answers-dir="$T/$P-answers" req-1
  expect "$ERR" 'no answer package yet'
  for step in send-form form-returned "fee-paid --payment-ref=T-1" \
    "verify-identity --verified-subject=m-1 --document=license" start execute; do
    # shellcheck disable=SC2086
    run 0 request advance "${D[@]}" req-1 $step
  done
  expect "$OUT" 'executed'
  run 0 request package "${STORE[@]}" --answers-dir="$T/$P-answers" req-1
  expect "$OUT" '"subject_id": "m-1"'
  expect "$OUT" '"record_ref": "prov-new"'
  reject "$OUT" 'prov-old'
  run 0 request show "${STORE[@]}" req-1
  expect "$OUT" 'identity_verified'
  run 0 request list "${STORE[@]}" --open
  expect "$OUT" '^req-1 '
  run 0 request advance "${D[@]}" req-1 answer --answer-ref=letter-1
  run 0 request list "${STORE[@]}" --open
  reject "$OUT" '^req-1 '
  run 0 request list "${STORE[@]}" --json
  expect "$OUT" '"state": ?"REQUEST_STATE_ANSWERED"'
  run 1 request show "${STORE[@]}" req-99
  expect "$ERR" 'NOT_FOUND'

  # Two processes take the same step at once: one wins; the other reports
  # the conflict (or, when it started after the winner committed, that the
  # step is out of order) and records nothing.
  run 0 request open "${D[@]}" --kind=suspension --subject=m-2 --requester=Taro --purposes=marketing
  expect "$OUT" '^req-2$'
  # (each with its own access log: one log has one writer)
  local C=(--policy="$POLICY" "${STORE[@]}")
  "$CTL" request advance "${C[@]}" --audit-dir="$T/$P-audit-a" req-2 send-form \
    >"$T/$P-a.out" 2>"$T/$P-a.err" &
  local pa=$!
  "$CTL" request advance "${C[@]}" --audit-dir="$T/$P-audit-b" req-2 send-form \
    >"$T/$P-b.out" 2>"$T/$P-b.err" &
  local pb=$!
  wait $pa; local ra=$?
  wait $pb; local rb=$?
  if [[ "$ra$rb" != 01 && "$ra$rb" != 10 ]]; then
    echo "FAIL: concurrent send-form exited $ra and $rb, want one 0 and one 1"
    cat "$T/$P-a.err" "$T/$P-b.err"
    failures=$((failures + 1))
  fi
  cat "$T/$P-a.err" "$T/$P-b.err" >"$T/$P-ab.err"
  expect "$T/$P-ab.err" 'conflict: another command changed this request|FAILED_PRECONDITION'
  # The loser that lost the compare-and-set retracted its audit event.
  for x in a b; do
    if grep -q 'conflict: another command' "$T/$P-$x.err"; then
      run 0 audit tail "$T/$P-audit-$x" --json
      expect "$OUT" 'not_committed'
    fi
  done
  run 0 request show "${STORE[@]}" req-2
  expect "$OUT" 'form_sent'
  if [[ $(grep -c '  by ' "$OUT") != 2 ]]; then
    echo "FAIL: req-2 has $(grep -c '  by ' "$OUT") transitions, want 2"
    failures=$((failures + 1))
  fi
  run 0 request advance "${D[@]}" req-2 form-returned
  # The report lists the store's requests in progress.
  run 0 report --html="$T/$P-report.html" --audit-dir="$AUDIT" "${STORE[@]}" --to=2026-11-20
  expect "$T/$P-report.html" '<td>req-2</td><td>suspension</td>'
  reject "$T/$P-report.html" '<td>req-1</td>'
  # Executed, the suspension is in force, naming the request that placed it.
  run 0 request open "${D[@]}" --kind=suspension --subject=m-9 --requester=Goro \
    --purposes=marketing --identifier=contract_number:C-9
  local sus
  sus=$(cat "$OUT")
  for step in send-form form-returned \
    "verify-identity --verified-subject=m-9 --document=license --identifiers-confirmed" \
    start execute; do
    # shellcheck disable=SC2086
    run 0 request advance "${D[@]}" "$sus" $step
  done
  run 0 consent show "${STORE[@]}" m-9
  expect "$OUT" "'suspended purpose marketing' +request $sus +placed [0-9]{4}-"
  run 0 consent history "${STORE[@]}" m-9
  expect "$OUT" "add restrictions: 'suspended purpose marketing'"

  # import-dir: a legacy directory written by the legacy commands.
  local L=$T/$P-legacy
  run 0 request open --requests-dir="$L" --policy="$POLICY" --sqlite="$T/$P-l.db" \
    --kind=disclosure --subject=m-3 --requester=Jiro
  run 0 request open --requests-dir="$L" --policy="$POLICY" --sqlite="$T/$P-l.db" \
    --kind=purpose_notice --subject=m-4 --requester=Saburo
  run 0 request advance --requests-dir="$L" --policy="$POLICY" --sqlite="$T/$P-l.db" \
    req-2 send-form
  printf 'garbage {{{ \xff\n' >"$L/req-7.textproto"
  run 1 request import-dir "${FRESH[@]}" "$L"
  expect "$OUT" '^imported 2, skipped 0 \(already in the store\), refused 1'
  expect "$ERR" 'refused .*req-7.textproto'
  run 0 request show "${FRESH[@]}" req-2
  expect "$OUT" 'purpose_notice +form_sent +subject m-4'
  run 1 request show "${FRESH[@]}" req-7
  expect "$ERR" 'NOT_FOUND'
  # Ids are kept and never reused: the next request follows them.
  run 0 request open --policy="$POLICY" "${FRESH[@]}" --kind=disclosure --subject=m-5 --requester=Shiro
  expect "$OUT" '^req-3$'
  # Imported again: nothing is overwritten.
  rm "$L/req-7.textproto"
  run 0 request import-dir "${FRESH[@]}" "$L"
  expect "$OUT" '^imported 0, skipped 2'
  expect "$ERR" 'skipped req-1: a request with this id is already in the store'
  # Into a store whose req-1 is another request: req-1 is kept as it is.
  run 0 request import-dir "${STORE[@]}" "$L"
  expect "$OUT" '^imported 0, skipped 2'
  run 0 request show "${STORE[@]}" req-1
  expect "$OUT" 'answered +subject m-1'
  # A file holding another id than its name is refused.
  sed 's/^id: "req-2"/id: "req-1"/' "$L/req-2.textproto" >"$L/req-9.textproto"
  run 1 request import-dir "${FRESH[@]}" "$L"
  expect "$ERR" 'refused .*req-9.textproto'
  run 1 request show "${FRESH[@]}" req-9
  mkdir "$T/$P-empty"
  run 0 request import-dir "${FRESH[@]}" "$T/$P-empty"
  expect "$OUT" '^imported 0, skipped 0 \(already in the store\), refused 0'
  run 1 request import-dir "${FRESH[@]}" "$T/$P-missing"
  expect "$ERR" 'is not a directory'
  run 2 request import-dir "${FRESH[@]}"
}

if [[ $MODE == postgres ]]; then
  conninfo=$(cat "${CONSENTRY_PG_CONNINFO_FILE:?run under the postgres fixture}")
  PG=(--postgres="$conninfo" --pg-schema="consentctl_$$")
  run 0 consent grant "${PG[@]}" --policy="$POLICY" pg-1 marketing.promotion
  run 0 consent withdraw "${PG[@]}" --policy="$POLICY" pg-1 marketing.promotion
  run 0 consent grant "${PG[@]}" --policy="$POLICY" pg-2 marketing
  run 0 consent show "${PG[@]}" pg-1
  expect "$OUT" 'marketing.promotion +withdrawn'
  run 0 consent export "${PG[@]}" --out="$T/pg.json"
  run 0 consent import --sqlite="$T/from-pg.db" "$T/pg.json"
  expect "$OUT" 'imported 2 records \(2 changes\)'
  run 0 consent export --sqlite="$T/from-pg.db" --out="$T/back.binpb"
  run 0 consent import --postgres="$conninfo" --pg-schema="consentctl_b_$$" "$T/back.binpb"
  run 0 consent show --postgres="$conninfo" --pg-schema="consentctl_b_$$" pg-1
  expect "$OUT" 'marketing.promotion +withdrawn'
  run 1 consent show --postgres="host=/nonexistent dbname=x" pg-1
  expect "$ERR" 'UNAVAILABLE'
  # --pg-standby (repeatable): reads from a standby; alone, a read-only
  # store. (The primary stands in for a standby here: a server not in
  # recovery is read as the primary by a store that has none, and left by
  # one that has.) The standby tests proper are postgres_standby_test.
  run 0 consent show --postgres="$conninfo" --pg-standby="host=/nonexistent dbname=x" \
    --pg-standby="$conninfo" --pg-schema="consentctl_b_$$" pg-1
  expect "$OUT" 'marketing.promotion +withdrawn'
  run 0 consent show --pg-standby="$conninfo" --pg-schema="consentctl_b_$$" pg-1
  expect "$OUT" 'marketing.promotion +withdrawn'
  run 1 consent grant --pg-standby="$conninfo" --pg-schema="consentctl_b_$$" --policy="$POLICY" pg-1 marketing.promotion
  expect "$ERR" 'without a primary'
  run 1 consent show --pg-standby="host=/nonexistent dbname=x" pg-1
  expect "$ERR" 'UNAVAILABLE'
  STORE=(--postgres="$conninfo" --pg-schema="consentctl_r_$$")
  FRESH=(--postgres="$conninfo" --pg-schema="consentctl_i_$$")
  durable_suite pg
  echo "$failures failures"
  exit $((failures > 0))
fi

if [[ $MODE == browser ]]; then
  CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
  if [[ -z $CHROMIUM ]]; then
    echo "FAIL: chromium is not installed (scripts/install-deps.sh installs it)"
    exit 1
  fi
  mkdir -p "$T/requests"
  run 0 request open --requests-dir="$T/requests" --policy="$POLICY" \
    --sqlite="$T/c.db" --kind=disclosure --subject=m-1 --requester="Hanako"
  run 0 report --html="$T/report.html" --audit-dir="$AUDIT" \
    --requests-dir="$T/requests" --registry="$REGISTRY" --policy="$POLICY" \
    --to=2026-11-20
  profile=$(mktemp -d)
  "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --user-data-dir="$profile" --enable-logging=stderr --v=0 \
    --dump-dom "file://$T/report.html" >"$T/dom.html" 2>"$T/chromium.log"
  status=$?
  rm -rf "$profile"
  if [[ $status != 0 ]]; then
    echo "FAIL: chromium exited $status"
    sed 's/^/  | /' "$T/chromium.log" | tail -20
    exit 1
  fi
  expect "$T/dom.html" '<h1>Privacy officer report</h1>'
  expect "$T/dom.html" '<h2 id="decisions">'
  expect "$T/dom.html" '<h2 id="per-accessor">'
  expect "$T/dom.html" '<h2 id="per-purpose">'
  expect "$T/dom.html" '<h2 id="flagged">'
  expect "$T/dom.html" '<h2 id="requests">'
  expect "$T/dom.html" '<h2 id="due">'
  expect "$T/dom.html" '<svg class="chart"'
  expect "$T/dom.html" '<rect class="deny"'
  expect "$T/dom.html" 'support-desk.*flagged'
  expect "$T/dom.html" 'req-1'
  expect "$T/dom.html" 'callcenter-tokyo'
  charts=$(grep -o '<svg class="chart"' "$T/dom.html" | wc -l)
  if ((charts < 5)); then
    echo "FAIL: $charts charts rendered, want at least 5"
    failures=$((failures + 1))
  fi
  # No console errors, failed loads or parse errors.
  reject "$T/chromium.log" 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|net::ERR'
  # Self-contained: no script, no external reference.
  reject "$T/report.html" '<script|<link |src="http|href="http|@import'
  echo "$failures failures"
  exit $((failures > 0))
fi

# --- usage -----------------------------------------------------------------
run 0 --help
expect "$OUT" 'usage: consentctl'
run 2
run 2 frobnicate
expect "$ERR" "unknown command 'frobnicate'"
run 2 policy frobnicate
expect "$ERR" "unknown command 'policy frobnicate'"
run 0 policy lint --help
expect "$OUT" 'usage: consentctl policy lint'
run 0 consent grant --help
expect "$OUT" -- '--sqlite=PATH'
run 0 audit verify --help
run 0 report --help
expect "$OUT" -- '--html=FILE'
run 2 policy lint
expect "$ERR" 'missing argument'
run 2 policy lint --bogus "$POLICY"
expect "$ERR" 'unknown flag --bogus'
run 2 policy notice --lang=fr "$POLICY"
run 2 consent grant m-1
expect "$ERR" 'missing argument'
run 2 report --audit-dir="$AUDIT"
expect "$ERR" -- '--html is required'

# --- policy ----------------------------------------------------------------
run 0 policy lint "$POLICY"
expect "$OUT" 'valid \(version 2026-11-01\)'
run 0 policy lint --json "$POLICY"
expect "$OUT" '"valid":true'
sed 's/parent: "billing"/parent: "no_such_parent"/' "$POLICY" >"$T/bad.textproto"
run 1 policy lint "$T/bad.textproto"
expect "$OUT" 'invalid: .*purposes\[[0-9]+\]\.parent'
run 1 policy lint --json "$T/bad.textproto"
expect "$OUT" '"valid":false.*"code":"INVALID_ARGUMENT"'
echo 'version: "x" purposes {' >"$T/broken.textproto"
run 1 policy lint "$T/broken.textproto"
expect "$OUT" 'invalid'
run 1 policy lint "$T/missing.textproto"
run 0 policy compile "$POLICY"
expect "$OUT" 'policy 2026-11-01: [0-9]+ purposes'
expect "$OUT" 'basis table'
expect "$OUT" 'billing.invoicing  \(parent billing\)'
run 0 policy compile --json "$POLICY"
expect "$OUT" '"version":"2026-11-01"'
run 0 policy diff "$POLICY" "$POLICY2"
expect "$OUT" '2026-11-01 -> 2027-04-01: [0-9]+ changes, [1-9][0-9]* material'
expect "$OUT" '^! purpose_added purpose=service.security'
expect "$OUT" '^  wording'
run 0 policy diff --json "$POLICY" "$POLICY2"
expect "$OUT" '"material": true'
run 0 policy notice --lang=ja "$POLICY"
expect "$OUT" '利用目的'
run 0 policy notice --lang=en "$POLICY"
expect "$OUT" 'Purposes of use'

# --- consent ---------------------------------------------------------------
DB=$T/consent.db
run 1 consent show --sqlite="$T/none.db" m-1
run 0 consent grant --sqlite="$DB" --policy="$POLICY" m-1 marketing.promotion
expect "$OUT" 'm-1 marketing.promotion: given \(revision 1\)'
run 0 consent refuse --sqlite="$DB" --policy="$POLICY" m-1 statistics.measurement
run 0 consent withdraw --sqlite="$DB" --policy="$POLICY" --json m-1 marketing.promotion
expect "$OUT" '"state":"withdrawn","revision":3'
run 1 consent grant --sqlite="$DB" --policy="$POLICY" m-1 no.such.purpose
expect "$ERR" 'no.such.purpose'
run 1 consent grant --sqlite="$DB" --expected-revision=1 m-1 marketing
expect "$ERR" 'ABORTED'
run 0 consent show --sqlite="$DB" m-1
expect "$OUT" 'marketing.promotion +withdrawn'
expect "$OUT" 'statistics.measurement +refused'
run 0 consent show --sqlite="$DB" --json m-1
expect "$OUT" '"subject_id": "m-1"'
run 1 consent show --sqlite="$DB" m-404
expect "$ERR" 'no consent record'
run 0 consent history --sqlite="$DB" m-1
expect "$OUT" 'revision 3 .* marketing.promotion withdrawn'
run 0 consent grant --sqlite="$DB" --policy="$POLICY" m-2 marketing
for fmt in json textproto binpb; do
  run 0 consent export --sqlite="$DB" --out="$T/export.$fmt"
  run 0 consent import --sqlite="$T/import-$fmt.db" "$T/export.$fmt"
  expect "$OUT" 'imported 2 records \(3 changes\)'
  run 0 consent show --sqlite="$T/import-$fmt.db" m-1
  expect "$OUT" 'marketing.promotion +withdrawn'
done
run 0 consent export --sqlite="$DB" --format=text
expect "$OUT" 'subject_id: "m-2"'
run 2 consent export --sqlite="$DB"
expect "$ERR" -- '--format is needed'
# A subject id that is not UTF-8 is refused before anything is written.
run 1 consent grant --sqlite="$DB" "$(printf 'bad\377id')" marketing
expect "$ERR" 'INVALID_ARGUMENT.*subject_id is not valid UTF-8'
run 0 consent export --sqlite="$DB" --format=text
reject "$OUT" 'bad'
# A stored record that no longer parses (its evidence reference overwritten
# with bytes that are not UTF-8, in place, as bit rot would): show names it
# and fails; export reports it, exports the others and fails.
DB2=$T/rot.db
run 0 consent grant --sqlite="$DB2" ok-1 marketing
run 0 consent grant --sqlite="$DB2" --evidence=ROTTENBYTES rot-1 marketing
for off in $(grep -obUa ROTTENBYTES "$DB2" | cut -d: -f1); do
  printf '\377\377' | dd of="$DB2" bs=1 seek="$off" conv=notrunc 2>/dev/null
done
run 1 consent show --sqlite="$DB2" rot-1
expect "$ERR" "DATA_LOSS.*subject 'rot-1'"
run 0 consent show --sqlite="$DB2" ok-1
run 1 consent export --sqlite="$DB2" --format=text
expect "$OUT" 'subject_id: "ok-1"'
reject "$OUT" 'rot-1'
expect "$ERR" "unreadable record.*subject 'rot-1'"
echo '{"records": [ {"subject_id": ' >"$T/malformed.json"
run 1 consent import --sqlite="$T/malformed.db" "$T/malformed.json"
expect "$ERR" 'malformed.json'
printf 'records { subject_id: "m-9" purposes { state: CONSENT_STATE_GIVEN } }\n' \
  >"$T/nopurpose.textproto"
run 1 consent import --sqlite="$T/nopurpose.db" "$T/nopurpose.textproto"
expect "$ERR" 'records\[0\]'
printf 'garbage\xff\xfe' >"$T/garbage.binpb"
run 1 consent import --sqlite="$T/garbage.db" "$T/garbage.binpb"
run 1 consent show --sqlite="$T/nopurpose.db" m-9

# --- recipients ------------------------------------------------------------
run 0 recipients list --registry="$REGISTRY" --policy="$POLICY" --as-of=2026-11-01
expect "$OUT" 'callcenter-tokyo'
run 0 recipients list --registry="$REGISTRY" --policy="$POLICY" --json
expect "$OUT" '"id":"partner-insurer"'
run 1 recipients due --registry="$REGISTRY" --policy="$POLICY" --as-of=2027-06-01
expect "$OUT" 'OVERDUE .* callcenter-tokyo'
run 2 recipients list --policy="$POLICY"
run 2 recipients due --registry="$REGISTRY" --policy="$POLICY" --as-of=yesterday

# --- inputs must be regular files under the size limit ------------------------
mkdir -p "$T/registry-dir.textproto"
run 1 recipients due --registry="$T/registry-dir.textproto" --policy="$POLICY" --as-of=2026-11-01
expect "$ERR" 'registry-dir.textproto.* is not a regular file \(it is a directory\)'
reject "$OUT" 'no recipient due'
ln -sf /dev/zero "$T/zero.textproto"
run 1 policy lint "$T/zero.textproto"
expect "$OUT" 'zero.textproto.* is not a regular file'
run 1 recipients list --registry="$REGISTRY" --policy="$T/zero.textproto"
expect "$ERR" 'zero.textproto.* is not a regular file'
truncate -s 300M "$T/huge.textproto"
run 1 recipients list --registry="$T/huge.textproto" --policy="$POLICY"
expect "$ERR" 'RESOURCE_EXHAUSTED.*more than the limit'
rm -f "$T/huge.textproto"
# --- outputs never write through a planted symlink ---------------------------
mkdir -p "$T/outside" "$T/outdir"
printf 'precious\n' >"$T/outside/victim"
ln -s "$T/outside/victim" "$T/outdir/export.json.tmp"
run 0 consent export --sqlite="$DB" --out="$T/outdir/export.json"
expect "$T/outdir/export.json" '"subject_id"'
expect "$T/outside/victim" '^precious$'
[[ -L $T/outdir/export.json.tmp ]] || { echo "FAIL: planted link removed"; failures=$((failures + 1)); }
# --- repeated and conflicting flags are usage errors ------------------------
run 2 consent show --sqlite="$T/a.db" --postgres="host=/nonexistent" m-1
expect "$ERR" '--sqlite and --postgres cannot be used together'
run 2 consent show --postgres="host=/nonexistent" --pg-schema=x --sqlite="$T/a.db" m-1
expect "$ERR" '--sqlite and --postgres cannot be used together'
run 2 consent show --sqlite="$T/a.db" --pg-standby="host=/nonexistent" m-1
expect "$ERR" '--sqlite and --pg-standby cannot be used together'
run 2 recipients list --registry="$REGISTRY" --registry="$T/other.textproto" --policy="$POLICY"
expect "$ERR" '--registry is given more than once'
run 2 policy lint --json --json "$POLICY"
expect "$ERR" '--json is given more than once'

STORE=(--sqlite="$T/store.db")
FRESH=(--sqlite="$T/fresh.db")
run 1 recipients records "${STORE[@]}" --subject=m-1
expect "$ERR" 'NOT_FOUND'
durable_suite sqlite

# --- requests in a legacy --requests-dir ------------------------------------
RQ=$T/requests
DESK=(--requests-dir="$RQ" --policy="$POLICY" --sqlite="$DB" --audit-dir="$T/desk-audit")
run 0 request open "${DESK[@]}" --kind=disclosure --subject=m-1 --requester="Hanako Yamada"
expect "$OUT" '^req-1$'
run 1 request advance "${DESK[@]}" req-1 start
expect "$ERR" 'FAILED_PRECONDITION'
run 0 request advance "${DESK[@]}" req-1 send-form
expect "$OUT" 'form_sent'
run 0 request advance "${DESK[@]}" req-1 form-returned
run 0 request advance "${DESK[@]}" req-1 fee-paid --payment-ref=T-42
run 1 request advance "${DESK[@]}" req-1 verify-identity --verified-subject=m-2 --document=license
expect "$ERR" 'PERMISSION_DENIED'
run 0 request advance "${DESK[@]}" req-1 verify-identity --verified-subject=m-1 --document=license
run 1 request package --requests-dir="$RQ" req-1
expect "$ERR" 'no answer package yet'
run 0 request advance "${DESK[@]}" req-1 start
run 1 request advance "${DESK[@]}" req-1 execute \
  --receipt-keys="$SRC/tests/testdata/receipt_keys"
expect "$ERR" 'several private keys'
# The provision records a package lists: one about m-1, one about m-2.
cat >"$T/provisions.textproto" <<'PROV'
provisions {
  id: "prov-m1" provision_time { seconds: 1790000000 }
  recipient_id: "univ-lab" recipient_name: "Joint study laboratory"
  purpose: "occasion.joint_study" subjects: "m-1" categories: "measurement"
}
provisions {
  id: "prov-m2" provision_time { seconds: 1790000100 }
  recipient_id: "univ-lab" subjects: "m-2" categories: "measurement"
}
receipts {
  id: "rcpt-m1" receipt_time { seconds: 1790000200 }
  provider_name: "Partner clinic" subjects: "m-1" categories: "contact"
}
PROV
run 1 request advance "${DESK[@]}" req-1 execute \
  --receipt-keys="$SRC/tests/testdata/receipt_keys/2026.pem" \
  --provision-records="$T/absent.textproto"
expect "$ERR" 'absent.textproto'
run 0 request advance "${DESK[@]}" req-1 execute \
  --receipt-keys="$SRC/tests/testdata/receipt_keys/2026.pem" \
  --provision-records="$T/provisions.textproto"
expect "$OUT" 'executed'
run 0 request package --requests-dir="$RQ" req-1
expect "$OUT" '"subject_id": "m-1"'
expect "$OUT" '"consent_receipts"'
expect "$OUT" '"record_ref": "prov-m1"'
expect "$OUT" '"record_ref": "rcpt-m1"'
reject "$OUT" 'prov-m2'
reject "$OUT" 'omitted_sections'
run 0 request package --requests-dir="$RQ" --lang=ja req-1
expect "$OUT" '開示'
expect "$OUT" '7\. 同意の受領書'
expect "$OUT" '\| ed25519:[0-9a-f]{32} \|'
run 0 request advance "${DESK[@]}" req-1 answer --answer-ref=letter-1
expect "$OUT" 'answered'
run 0 request show --requests-dir="$RQ" req-1
expect "$OUT" 'identity_verified'
run 0 request open "${DESK[@]}" --kind=suspension --subject=m-2 --requester=Taro --purposes=marketing
expect "$OUT" '^req-2$'
run 0 request list --requests-dir="$RQ" --open
expect "$OUT" 'req-2'
reject "$OUT" 'req-1 '
# Answer deadlines: 14 days from receipt in the default policy. Now, none is
# overdue; in 2100 the open suspension is, the answered disclosure is not.
run 0 request show --requests-dir="$RQ" req-2
expect "$OUT" 'answer due [0-9]{4}-'
run 0 request list --requests-dir="$RQ" --overdue
expect "$OUT" '^no request is overdue at '
run 1 request list --requests-dir="$RQ" --overdue --as-of=2100-01-01
expect "$OUT" '^req-2  suspension'
expect "$OUT" 'OVERDUE since [0-9]{4}-'
reject "$OUT" 'req-1 '
run 1 request list --requests-dir="$RQ" --overdue --as-of=2100-01-01 --json
expect "$OUT" '"due_time"'
run 2 request list --requests-dir="$RQ" --as-of=2100-01-01
expect "$ERR" '--as-of needs --overdue'
run 2 request list --requests-dir="$RQ" --overdue --as-of=someday
run 1 request show --requests-dir="$RQ" req-99
expect "$ERR" 'NOT_FOUND'
run 2 request advance "${DESK[@]}" req-2 fly
expect "$ERR" "unknown step 'fly'"
run 2 request open "${DESK[@]}" --kind=gossip --subject=m-2 --requester=Taro
run 2 request advance "${DESK[@]}" req-2 fee-paid
expect "$ERR" 'needs --payment-ref'
# A subject (or any string) that is not UTF-8 is refused at intake.
run 1 request open "${DESK[@]}" --kind=disclosure --subject="$(printf 'm-\xff')" --requester=Taro
expect "$ERR" 'subject_id is not valid UTF-8'
[[ ! -e $RQ/req-3.textproto ]] || { echo "FAIL: a non-UTF-8 request was stored"; failures=$((failures + 1)); }
# A hand-edited file: processing, another person's verified subject, no fee,
# no transitions. Refused, and nothing is written for anyone.
printf 'id: "req-3"\nkind: REQUEST_KIND_DISCLOSURE\nsubject_id: "m-1"\nrequester { name: "X" identity { verified: true } }\nform_returned: true\nstate: REQUEST_STATE_PROCESSING\nverified_subject_id: "m-2"\nversion: 1\n' >"$RQ/req-3.textproto"
run 1 request advance "${DESK[@]}" req-3 execute
expect "$ERR" 'DATA_LOSS.*req-3.textproto'
[[ ! -e $RQ/req-3.answer.json ]] || { echo "FAIL: an answer was written for a forged request"; failures=$((failures + 1)); }
# A file whose id differs from its name does not update the request it names.
cp "$RQ/req-2.textproto" "$T/req-2.before"
sed 's/^id: "req-2"/id: "req-1"/' "$RQ/req-2.textproto" >"$RQ/req-4.textproto"
run 1 request advance "${DESK[@]}" req-4 send-form
expect "$ERR" 'holds request .req-1., not .req-4.'
cmp -s "$RQ/req-2.textproto" "$T/req-2.before" || { echo "FAIL: req-2 changed"; failures=$((failures + 1)); }
run 0 request show --requests-dir="$RQ" req-1
expect "$OUT" 'answered'
# Garbage, and a directory, where request files should be.
printf 'garbage {{{ \xff\n' >"$RQ/req-5.textproto"
mkdir "$RQ/req-6.textproto"
# Listing reports and skips the bad files, lists the others, exits 1.
run 1 request list --requests-dir="$RQ"
expect "$OUT" '^req-1 '
expect "$OUT" '^req-2 '
reject "$OUT" '^req-[3-6] '
expect "$ERR" 'req-3.textproto'
expect "$ERR" 'req-4.textproto'
expect "$ERR" 'req-5.textproto'
expect "$ERR" 'req-6.textproto'
# Open and overdue listings name each unreadable request (it may be open
# and late) and still list the others.
run 1 request list --requests-dir="$RQ" --open
expect "$OUT" '^req-2 '
expect "$ERR" "request 'req-5' cannot be read.*req-5.textproto"
run 1 request list --requests-dir="$RQ" --overdue --as-of=2999-01-01T00:00:00Z
expect "$OUT" '^req-2 '
expect "$ERR" "request 'req-3' cannot be read \\(it may be overdue\\)"
# Every other request still advances, a disclosure (which lists the
# subject's requests for its package) included.
run 0 request advance "${DESK[@]}" req-2 send-form
run 0 request open "${DESK[@]}" --kind=disclosure --subject=m-2 --requester=Taro
expect "$OUT" '^req-7$'
# (and a symlink planted at its answer's old temporary name: see below)
printf 'precious\n' >"$T/outside-victim"
ln -s "$T/outside-victim" "$RQ/req-7.answer.en.md.tmp"
for step in send-form form-returned "fee-paid --payment-ref=T-7" \
  "verify-identity --verified-subject=m-2 --document=passport" start execute; do
  # shellcheck disable=SC2086
  run 0 request advance "${DESK[@]}" req-7 $step
done
expect "$ERR" 'skipped an unreadable request file'
run 0 request package --requests-dir="$RQ" req-7
expect "$OUT" '"subject_id": "m-2"'
rm -rf "$RQ/req-3.textproto" "$RQ/req-4.textproto" "$RQ/req-5.textproto" "$RQ/req-6.textproto"
# A symlink planted at a request file's old temporary name is not followed.
ln -s "$T/outside-victim" "$RQ/req-2.textproto.tmp"
run 0 request advance "${DESK[@]}" req-2 form-returned
run 0 request advance "${DESK[@]}" req-7 answer --answer-ref=letter-7
expect "$T/outside-victim" '^precious$'
reject "$T/outside-victim" 'req-'
rm -f "$RQ/req-2.textproto.tmp" "$RQ/req-7.answer.en.md.tmp"
# The answer is written before the request is recorded as executed: when an
# answer file cannot be written (a directory stands at its name), the request
# stays in processing, and execute, run again, writes it and completes.
run 0 request open "${DESK[@]}" --kind=purpose_notice --subject=m-2 --requester=Taro
expect "$OUT" '^req-8$'
for step in send-form form-returned \
  "verify-identity --verified-subject=m-2 --document=passport" start; do
  # shellcheck disable=SC2086
  run 0 request advance "${DESK[@]}" req-8 $step
done
mkdir "$RQ/req-8.answer.ja.md"
run 1 request advance "${DESK[@]}" req-8 execute
expect "$ERR" 'req-8.answer.ja.md'
run 0 request show --requests-dir="$RQ" req-8
expect "$OUT" 'processing'
reject "$OUT" 'executed'
rmdir "$RQ/req-8.answer.ja.md"
run 0 request advance "${DESK[@]}" req-8 execute
expect "$OUT" 'executed'
run 0 request package --requests-dir="$RQ" --lang=ja req-8
expect "$OUT" '利用目的'
# The steps were audited into --audit-dir.
run 0 audit verify "$T/desk-audit"
expect "$OUT" '^ok: '
# Each step was a run of its own; each appended to the segment the one
# before it left open, rather than leaving a segment per run.
nseg=$(find "$T/desk-audit" -name '*.seg' | wc -l)
if [[ $nseg != 1 ]]; then
  echo "FAIL: $nseg segments in desk-audit after many runs, want 1"
  failures=$((failures + 1))
fi
run 0 audit query "$T/desk-audit" --subject=m-1
expect "$OUT" 'request'

# --- consent lift: restrictions hold until lifted, audited ----------------
LDB=(--sqlite="$T/lift.db")
cat >"$T/restricted.textproto" <<'EOF_'
records { subject_id: "l-1" restrictions { erased: true suspended_purposes: "marketing" } }
EOF_
cat >"$T/unrestricted.textproto" <<'EOF_'
records { subject_id: "l-1" restrictions { suspended_purposes: "marketing" } }
EOF_
run 0 consent import "${LDB[@]}" "$T/restricted.textproto"
# An import (a plain restrictions write) cannot drop the erasure.
run 1 consent import "${LDB[@]}" "$T/unrestricted.textproto"
expect "$ERR" "FAILED_PRECONDITION.*subject 'l-1'.*'erased'"
run 2 consent lift "${LDB[@]}" --subject=l-1 --restriction=erased --reason=x
expect "$ERR" 'audit-dir is required'
run 2 consent lift "${LDB[@]}" --audit-dir="$T/lift-audit" --subject=l-1 \
  --restriction=everything --reason=x
run 1 consent lift "${LDB[@]}" --audit-dir="$T/lift-audit" --subject=l-1 \
  --restriction=erased
expect "$ERR" 'reason'
run 0 consent lift "${LDB[@]}" --audit-dir="$T/lift-audit" --subject=l-1 \
  --restriction=erased --reason="erased by mistake" --request=ticket-1
expect "$OUT" "l-1: lifted 'erased'"
run 1 consent lift "${LDB[@]}" --audit-dir="$T/lift-audit" --subject=l-1 \
  --restriction=erased --reason="again"
expect "$ERR" 'NOT_FOUND'
run 0 consent show "${LDB[@]}" l-1
reject "$OUT" 'erased'
expect "$OUT" 'restrictions in force:'
expect "$OUT" "'suspended purpose marketing' +request unknown +placed [0-9]{4}-.* by consentctl import"
run 0 audit query "$T/lift-audit" --subject=l-1
expect "$OUT" 'restriction_lifted'

# --- audit -----------------------------------------------------------------
run 0 audit verify "$AUDIT"
expect "$OUT" '^ok: 2640 records'
expect "$OUT" 'cannot be detected'
run 0 audit verify --json "$AUDIT"
expect "$OUT" '"ok":true'
run 0 audit tail --n=3 "$AUDIT"
[[ $(wc -l <"$OUT") == 3 ]] || { echo "FAIL: tail printed $(wc -l <"$OUT") lines"; failures=$((failures + 1)); }
run 0 audit query "$AUDIT" --subject=m-1005
expect "$OUT" 'support-desk +m-1005 +measurement'
run 0 audit query "$AUDIT" --accessor=billing-svc --denied --json
expect "$OUT" '"allowed":false'
reject "$OUT" '"allowed":true'
run 0 audit query "$AUDIT" --from=2026-11-19T18:00:00Z --to=2026-11-19T20:00:00Z
expect "$OUT" 'support-desk'
run 2 audit query "$AUDIT"
run 2 audit query "$AUDIT" --from=2026-11-20 --to=2026-11-19
run 1 audit leak-report "$AUDIT" --as-of=2026-11-20T00:00:00Z
expect "$OUT" 'FLAG support-desk +bulk_read'
reject "$OUT" 'FLAG billing-svc'
run 0 audit leak-scope "$AUDIT" --accessors=support-desk \
  --from=2026-11-19T18:00:00Z --to=2026-11-19T20:00:00Z --aware-at=2026-11-20T09:00:00Z
expect "$OUT" '400'
run 0 audit leak-scope --json "$AUDIT" --accessors=support-desk \
  --from=2026-11-06 --to=2026-11-20 --aware-at=2026-11-20T09:00:00Z
expect "$OUT" '"report_required":true'
expect "$OUT" 'Art. 7\(i\)'
run 2 audit leak-scope "$AUDIT" --accessors=support-desk
expect "$ERR" -- '--aware-at is required'

# Several services' logs at once: merged by time, each event naming its log.
mkdir -p "$T/fleet" "$T/fleet2"
cp -r "$AUDIT" "$T/fleet/svc-a"
cp -r "$AUDIT" "$T/fleet/svc-b"
cp -r "$AUDIT" "$T/fleet2/svc-a"
run 0 audit query "$AUDIT" --subject=m-1005
single=$(wc -l <"$OUT")
run 0 audit query "$T/fleet/svc-a" "$T/fleet/svc-b" --subject=m-1005
expect "$OUT" '^\[svc-a\] .*support-desk +m-1005'
expect "$OUT" '^\[svc-b\] .*support-desk +m-1005'
[[ $(wc -l <"$OUT") == $((2 * single)) ]] ||
  { echo "FAIL: two logs gave $(wc -l <"$OUT") lines, not $((2 * single))"; failures=$((failures + 1)); }
run 0 audit query --json "$T/fleet/svc-a" "$T/fleet/svc-b" --accessor=billing-svc --denied
expect "$OUT" '^\[\{"log":"svc-a",'
expect "$OUT" '"log":"svc-b"'
reject "$OUT" '"allowed":true'
run 1 audit query "$T/fleet/svc-a" "$T/fleet2/svc-a" --subject=m-1005
expect "$ERR" "two logs are named 'svc-a'"
run 1 audit query "$T/fleet/svc-a" "$T/no-such-log" --subject=m-1005
expect "$ERR" 'no-such-log'
run 1 audit leak-report "$T/fleet/svc-a" "$T/fleet/svc-b" --as-of=2026-11-20T00:00:00Z
expect "$OUT" 'FLAG support-desk +bulk_read'
run 0 audit leak-scope --json "$T/fleet/svc-a" "$T/fleet/svc-b" --accessors=support-desk \
  --from=2026-11-19T18:00:00Z --to=2026-11-19T20:00:00Z --aware-at=2026-11-20T09:00:00Z
expect "$OUT" '"events":800'
run 0 report --html="$T/fleet.html" --audit-dir="$T/fleet/svc-a,$T/fleet/svc-b" --to=2026-11-20
expect "$T/fleet.html" 'support-desk'
run 1 audit verify "$T/no-such-dir"
# Checkpoints: signed, kept in an anchor file, checked by verify --anchor.
KEYS=$SRC/tests/testdata/receipt_keys
PUB=$SRC/tests/testdata/receipt_public
cp -r "$AUDIT" "$T/anchored"
run 0 audit checkpoint "$T/anchored" --signing-key="$KEYS/2026.pem" \
  --anchor-file="$T/anchors.txt"
expect "$OUT" '^consentry-audit-checkpoint/1 2640 [0-9a-f]{64} '
[[ $(wc -l <"$T/anchors.txt") == 1 ]] || { echo "FAIL: anchor file"; failures=$((failures + 1)); }
run 0 audit verify "$T/anchored" --anchor="$T/anchors.txt" --anchor-keys="$PUB"
expect "$OUT" 'anchored by a signed checkpoint'
run 0 audit verify --json "$T/anchored" --anchor="$T/anchors.txt" --anchor-keys="$PUB"
expect "$OUT" '"anchored":true'
run 2 audit verify "$T/anchored" --anchor="$T/anchors.txt"
expect "$ERR" 'go together'
run 2 audit checkpoint "$T/anchored"
expect "$ERR" -- '--signing-key is required'
run 1 audit checkpoint "$T/anchored" --signing-key="$PUB/2026.pem"
: >"$T/empty.key"
run 1 audit verify "$T/anchored" --hmac-key-file="$T/empty.key"
expect "$ERR" 'is empty'
# Retention: two sessions of the fixture a year apart; the older one goes,
# after the checkpoint at the cut is kept in the log's retention record.
"$FIXTURE" "$T/retain" 1763596800 >/dev/null || { echo "FAIL: fixture"; exit 1; }
"$FIXTURE" "$T/retain" "$END" >/dev/null || { echo "FAIL: fixture"; exit 1; }
mkdir -p "$T/retain-archive"
run 2 audit retain "$T/retain" --older-than=-1d --delete
expect "$ERR" 'non-negative duration'
run 2 audit retain "$T/retain" --older-than=180d
expect "$ERR" -- '--archive-dir D or --delete'
run 1 audit retain "$T/retain" --older-than=180d --archive-dir="$T/anchors.txt"
expect "$ERR" 'not a directory'
run 1 audit retain "$T/retain" --older-than=180d --archive-dir="$T/retain"
expect "$ERR" 'is the log directory'
run 0 audit retain "$T/retain" --older-than=180d --archive-dir="$T/retain-archive" --dry-run
expect "$OUT" 'would move audit-0000000000000000.seg +2640 records +[0-9]+ bytes'
[[ -z $(ls "$T/retain-archive") ]] || { echo "FAIL: dry run wrote"; failures=$((failures + 1)); }
run 0 audit retain "$T/retain" --older-than=180d --archive-dir="$T/retain-archive" \
  --signing-key="$KEYS/2026.pem"
expect "$OUT" 'moved audit-0000000000000000.seg'
expect "$OUT" 'events before 2025-11-19T.* were removed under the retention policy'
expect "$OUT" 'record signed by'
run 0 audit verify "$T/retain"
expect "$OUT" 'verified from segment 1 \(sequence 2640\)'
expect "$OUT" 'UNAUTHENTICATED'
run 0 audit verify "$T/retain" --retention-keys="$PUB"
expect "$OUT" "retention record's signed checkpoint"
run 0 audit verify --json "$T/retain" --retention-keys="$PUB"
expect "$OUT" '"verified_from_segment":1,.*"coverage":\{"retained":true'
run 0 audit verify "$T/retain-archive" --prefix-of="$T/retain" --retention-keys="$PUB"
expect "$OUT" '^ok: 2640 records in 1 segments, anchored'
run 0 audit tail "$T/retain" --n=1
expect "$ERR" 'note: events before .* were removed under the retention policy'
sed -i 's/^removed_times \([0-9]*\) /removed_times 1\1 /' "$T/retain/audit-retention.rec"
run 1 audit verify "$T/retain" --retention-keys="$PUB"
expect "$OUT" 'TAMPERED.*bad_retention_record'
# The last segment removed: unseen without the anchor, found with it.
last=$(ls "$T/anchored"/*.seg | tail -1)
rm -f "$last" "${last%.seg}.idx"
run 0 audit verify "$T/anchored"
run 1 audit verify "$T/anchored" --anchor="$T/anchors.txt" --anchor-keys="$PUB"
expect "$OUT" 'TAMPERED.*trailing_deletion'
# Tamper: change one byte inside a record of the first segment.
seg=$(ls "$AUDIT"/*.seg | head -1)
cp -r "$AUDIT" "$T/tampered"
tseg="$T/tampered/$(basename "$seg")"
# Flip the low bit of the first "billing-svc" past byte 4000 ('b' -> 'c').
off=$(grep -obUa 'billing-svc' "$tseg" | cut -d: -f1 |
      while read -r o; do [ "$o" -ge 4000 ] && { echo "$o"; break; }; done)
[ -n "$off" ] || { echo "FAIL: no record to tamper with in $tseg"; exit 1; }
printf 'c' | dd of="$tseg" bs=1 seek="$off" conv=notrunc status=none
run 1 audit verify "$T/tampered"
expect "$OUT" "TAMPERED.*$(basename "$seg") record [0-9]+ offset [0-9]+"
run 1 audit verify --json "$T/tampered"
expect "$OUT" '"ok":false.*"record_index":[0-9]+'

# --- receipt -----------------------------------------------------------------
KEYS=$SRC/tests/testdata/receipt_keys
PUB=$SRC/tests/testdata/receipt_public
RDB=$T/receipts.db
run 0 consent grant --sqlite="$RDB" --policy="$POLICY" r-1 marketing.research
run 0 consent withdraw --sqlite="$RDB" --policy="$POLICY" r-1 billing
run 0 receipt issue --sqlite="$RDB" --policy="$POLICY" --keys="$KEYS" \
  --signing-key="$KEYS/2025.pem" --controller="Example K.K." \
  --out="$T/r-old.json" r-1
expect "$ERR" 'wrote receipt rcpt-[0-9a-f]{32} signed by ed25519:[0-9a-f]{32}'
# Rotation: the next receipt is signed with the 2026 key; both verify.
run 0 receipt issue --sqlite="$RDB" --policy="$POLICY" --keys="$KEYS" \
  --signing-key="$KEYS/2026.pem" --purposes=marketing.research \
  --out="$T/r-new.json" r-1
run 0 receipt verify --keys="$PUB" "$T/r-old.json"
expect "$OUT" 'verified rcpt-.*subject r-1, revision 2'
run 0 receipt verify --keys="$PUB" "$T/r-new.json"
run 0 receipt verify --keys="$PUB/2025.pem,$PUB/2026.pem" --format=ja \
  "$T/r-new.json"
expect "$OUT" '同意の受領書'
expect "$OUT" '市場調査・分析'
run 0 receipt issue --sqlite="$RDB" --policy="$POLICY" --unsigned \
  --format=en r-1
expect "$OUT" '# Consent receipt'
expect "$OUT" 'withdrawn'
expect "$OUT" 'unsigned'
# Failures: unknown key, tampered, malformed, unsigned, no record, bad keys.
run 1 receipt verify --keys="$PUB/2026.pem" "$T/r-old.json"
expect "$ERR" 'NOT_FOUND.*is not known'
sed 's/"state":"given"/"state":"refused"/' "$T/r-new.json" >"$T/r-bad.json"
run 1 receipt verify --keys="$PUB" "$T/r-bad.json"
expect "$ERR" 'UNAUTHENTICATED'
printf '%s\n' "$(cat "$T/r-new.json")" >"$T/r-nl.json"
run 1 receipt verify --keys="$PUB" "$T/r-nl.json"
expect "$ERR" 'canonical'
printf '\xff{}' >"$T/r-bin.json"
run 1 receipt verify --keys="$PUB" "$T/r-bin.json"
expect "$ERR" 'UTF-8'
run 0 receipt issue --sqlite="$RDB" --policy="$POLICY" --unsigned \
  --out="$T/r-unsigned.json" r-1
run 1 receipt verify --keys="$PUB" "$T/r-unsigned.json"
expect "$ERR" 'not signed'
run 1 receipt issue --sqlite="$RDB" --policy="$POLICY" --unsigned nobody
expect "$ERR" 'no consent record'
: >"$T/empty.pem"
run 1 receipt verify --keys="$T/empty.pem" "$T/r-new.json"
expect "$ERR" 'is empty'
run 1 receipt verify --keys="$T/no-such-keys" "$T/r-new.json"
run 1 receipt issue --sqlite="$RDB" --policy="$POLICY" --keys="$KEYS" r-1
expect "$ERR" 'several private keys'
run 2 receipt issue --sqlite="$RDB" --policy="$POLICY" r-1
run 2 receipt verify "$T/r-new.json"
run 2 receipt verify --keys="$PUB" --format=fr "$T/r-new.json"
run 2 receipt frobnicate

# --- report (content; rendering is the browser test) -------------------------
run 0 report --html="$T/r.html" --audit-dir="$AUDIT" --to=2026-11-20 \
  --requests-dir="$RQ" --registry="$REGISTRY" --policy="$POLICY"
expect "$T/r.html" '<svg class="chart"'
expect "$T/r.html" 'support-desk &#9873; flagged'
expect "$T/r.html" 'req-2'
expect "$T/r.html" 'None past its answer deadline'
reject "$T/r.html" '<script'
run 0 report --html="$T/r4.html" --audit-dir="$AUDIT" --to=2100-01-01 \
  --requests-dir="$RQ"
expect "$T/r4.html" 'past their answer deadline at 2100-01-01'
expect "$T/r4.html" '<td class="flag">[0-9TZ:.-]+ overdue</td>'
run 1 report --html="$T/r2.html" --audit-dir="$T/no-such-dir"
run 2 report --html="$T/r3.html" --audit-dir="$AUDIT" --bucket=week

echo "$failures failures"
exit $((failures > 0))
