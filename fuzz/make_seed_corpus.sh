#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Regenerates the seed corpora in tests/fuzz_corpus/ from the default policy,
# tests/testdata and hand-made edge cases. The output is committed; run this
# again after changing a schema or the test data. Inputs found by fuzzing
# are added to the same directories by `scripts/fuzz.sh --merge`.
#
# Input layout of policy_fuzzer and consent_record_fuzzer: one byte choosing
# the form ('0' text, '1' JSON, '2' binary; see fuzz/fuzz_support.h), then
# the document.
set -euo pipefail
cd "$(dirname "$0")/.."

out=tests/fuzz_corpus

# N deterministic pseudo-random bytes from SEED: SHA-256 in counter mode,
# with coreutils and sed only.
pseudo_random_bytes() {
  local n=$1 seed=$2 i=0 hex=""
  while [ ${#hex} -lt $((n * 2)) ]; do
    hex+=$(printf '%s-%d' "$seed" "$i" | sha256sum | cut -c1-64)
    i=$((i + 1))
  done
  printf "$(printf '%s' "${hex:0:$((n * 2))}" | sed 's/../\\x&/g')"
}
protoc_encode() {  # <message> < text > binary
  protoc --encode="consentry.v1.$1" -I proto -I /usr/include \
    proto/consentry/v1/policy.proto proto/consentry/v1/consent.proto
}
seed() {  # <fuzzer> <name> <form byte>; document on stdin
  mkdir -p "$out/$1"
  { printf '%s' "$3"; cat; } > "$out/$1/$2"
}

# --- policy_fuzzer ----------------------------------------------------------
rm -rf "$out/policy_fuzzer"
seed policy_fuzzer default.text 0 < policies/default.textproto
protoc_encode Policy < policies/default.textproto | seed policy_fuzzer default.bin 2
seed policy_fuzzer special_opt_out.text 0 < tests/testdata/policy_special_opt_out.textproto
seed policy_fuzzer minimal.json 1 <<'J'
{"version": "v1",
 "purposes": [{"id": "billing"}, {"id": "billing.calculation", "parent": "billing"},
              {"id": "occasion"}, {"id": "occasion.study", "parent": "occasion", "per_occasion": true}],
 "categories": [{"id": "identity"}, {"id": "measurement", "special": true}],
 "rules": [{"category": "identity", "purposes": ["billing"], "basis": "LEGAL_BASIS_NECESSARY"},
           {"category": "measurement", "purposes": ["occasion.study"], "basis": "LEGAL_BASIS_OPT_IN"}],
 "accessors": [{"id": "svc", "kind": "ACCESSOR_KIND_SERVICE", "may_declare": ["billing", "occasion"]}]}
J
seed policy_fuzzer cycle.text 0 <<'T'
version: "cycle"
purposes { id: "a" parent: "b" }
purposes { id: "b" parent: "a" }
T
seed policy_fuzzer unknown_refs.text 0 <<'T'
version: "refs"
purposes { id: "a" }
categories { id: "c" }
rules { category: "nope" purposes: "a" basis: LEGAL_BASIS_NECESSARY }
rules { category: "c" purposes: "missing" basis: LEGAL_BASIS_OPT_IN }
accessors { id: "x" may_declare: "ghost" }
T
seed policy_fuzzer duplicates.text 0 <<'T'
version: "dup"
purposes { id: "a" }
purposes { id: "a" }
categories { id: "c" }
categories { id: "c" }
T
seed policy_fuzzer opt_out_occasion.text 0 <<'T'
version: "occ"
purposes { id: "o" per_occasion: true }
categories { id: "c" }
rules { category: "c" purposes: "o" basis: LEGAL_BASIS_OPT_OUT }
rules { category: "c" purposes: "o" }
T
seed policy_fuzzer deep.text 0 <<'T'
version: "deep"
purposes { id: "a" } purposes { id: "a.b" parent: "a" } purposes { id: "a.b.c" parent: "a.b" }
purposes { id: "a.b.c.d" parent: "a.b.c" }
categories { id: "c" }
rules { category: "c" purposes: ["a.b", "a.b.c.d"] basis: LEGAL_BASIS_OPT_IN }
rules { category: "c" purposes: ["a"] basis: LEGAL_BASIS_OPT_OUT }
accessors { id: "x" may_declare: ["a.b.c"] }
accessors { id: "y" may_declare: ["a"] }
T
seed policy_fuzzer empty.text 0 < /dev/null
seed policy_fuzzer bad_json.json 1 <<'J'
{"version": 1, "purposes": [{"id": "\ud800"}], "effective_time": "10000-01-01T00:00:00Z"}
J
printf '\x2a\xff\xff\xff\xff\x0f' | seed policy_fuzzer truncated.bin 2

# --- consent_record_fuzzer --------------------------------------------------
rm -rf "$out/consent_record_fuzzer"
seed consent_record_fuzzer record.text 0 < tests/testdata/consent_record.textproto
seed consent_record_fuzzer record.json 1 < tests/testdata/consent_record.json
protoc_encode ConsentRecord < tests/testdata/consent_record.textproto |
  seed consent_record_fuzzer record.bin 2
seed consent_record_fuzzer erased.text 0 <<'T'
subject_id: "member-9"
purposes { purpose: "service" state: CONSENT_STATE_GIVEN }
restrictions { erased: true erased_time { seconds: 1790000000 } }
revision: 7
T
seed consent_record_fuzzer extreme_times.text 0 <<'T'
subject_id: "member-10"
purposes { purpose: "marketing" state: CONSENT_STATE_GIVEN expiry { seconds: 9223372036854775807 nanos: 999999999 } }
purposes { purpose: "statistics" state: CONSENT_STATE_GIVEN expiry { seconds: -9223372036854775808 nanos: -5 } }
purposes { purpose: "occasion.joint_study" occasion_id: "o" state: CONSENT_STATE_GIVEN expiry { seconds: 9223372036854775807 } }
update_time { seconds: 253402300800 }
revision: -1
T
seed consent_record_fuzzer unknown_enum_and_purpose.text 0 <<'T'
subject_id: ""
subject_kind: 99
purposes { purpose: "no.such.purpose" state: 17 }
purposes { purpose: "marketing" state: CONSENT_STATE_REFUSED }
purposes { purpose: "marketing.research" state: CONSENT_STATE_GIVEN }
restrictions { suspended_purposes: "ghost" suspend_all: false }
revision: 1099511627776
T
seed consent_record_fuzzer suspended.json 1 <<'J'
{"subject_id": "member-11", "restrictions": {"suspend_all": true, "suspended_purposes": ["billing"]},
 "purposes": [{"purpose": "billing", "state": "CONSENT_STATE_WITHDRAWN"}], "revision": "3"}
J
seed consent_record_fuzzer long_subject.json 1 <<J
{"subject_id": "$(printf 'x%.0s' $(seq 1 300))", "revision": "5",
 "purposes": [{"purpose": "marketing.promotion", "state": "CONSENT_STATE_GIVEN"}]}
J
printf '\x0a\x03\xff\xfe\xfd' | seed consent_record_fuzzer invalid_utf8.bin 2

# --- guard_ops_fuzzer -------------------------------------------------------
# Operation streams are drawn with FuzzedDataProvider; deterministic
# pseudo-random streams of several lengths are good enough seeds.
rm -rf "$out/guard_ops_fuzzer"
mkdir -p "$out/guard_ops_fuzzer"
for n in 16 64 256 1024 4096; do
  for s in 1 2; do
    pseudo_random_bytes "$n" "guard_ops-$n-$s" > "$out/guard_ops_fuzzer/random_${n}_${s}"
  done
done
echo "seed corpora written to $out/"
