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
# --- projection_fuzzer ------------------------------------------------------
# Layout: a type byte (0 Record, 1 Scalars, 2 Tree, 3 Untagged, 4 Lenient,
# 5 HealthMeasurement, 6-7 a type synthesized from the payload, 8 a
# malformed test message), 32 control bytes, then the record in wire format
# (for 6-7: a schema length byte, the schema bytes, the record).
rm -rf "$out/projection_fuzzer"
mkdir -p "$out/projection_fuzzer"
control() {  # <seed>: 32 pseudo-random control bytes
  pseudo_random_bytes 32 "projection-$1"
}
encode_test() {  # <message> < text > binary
  protoc --encode="$1" -I tests/proto -I examples/proto -I proto -I /usr/include \
    tests/proto/projection_test.proto examples/proto/health.proto
}
projection_seed() {  # <name> <type byte> <control seed>; record on stdin
  { printf "\\x$(printf '%02x' "$2")"; control "$3"; cat; } > "$out/projection_fuzzer/$1"
}
encode_test consentry.test.Record <<'T' | projection_seed record 0 1
member_id: "member-7" weight_kg: 61.2
contact { email: "m7@example.jp" phone: "03-0000-0007" }
parts { segment: "trunk" fat_percent: 21.5 } parts { segment: "left_arm" }
parts_by_name { key: "right_leg" value { fat_percent: 18 } }
labels { key: "plan" value: "family" }
card_token: "tok-123" measured_at { seconds: 1790000000 } device_ids: "scale-42"
T
{ encode_test consentry.test.Record <<'T'
member_id: "member-7" invoice_contact { email: "a@b.jp" }
parts { segment: "trunk" } measured_at { seconds: 1 nanos: 2 }
T
  # Unknown fields: at the top, and inside the contact (field 3).
  printf '\xf8\x07\x01\x1a\x04\xf8\x07\x2a\x00'; } | projection_seed record_unknown 0 2
encode_test consentry.test.Scalars <<'T' | projection_seed scalars 1 3
member_id: "m" i32: -1 i64: 2 u32: 3 u64: 4 f: -0.0 d: 1e300 b: true level: LEVEL_HIGH
raw: "\377" text: "t" s32: -5 f64: 6 explicit_i32: 0 many: [1, 2, 3]
T
encode_test consentry.test.Tree <<'T' | projection_seed tree 2 4
member_id: "m" root { value: 1 secret: "s" children { value: 2 children { secret: "t" } } children {} }
T
encode_test consentry.test.Untagged <<'T' | projection_seed untagged 3 5
member_id: "m" note: "prefers morning calls" weight_kg: 70.1
T
encode_test consentry.test.Lenient <<'T' | projection_seed lenient 4 6
member_id: "m" note: "free text"
T
encode_test consentry.examples.HealthMeasurement <<'T' | projection_seed health 5 7
member_id: "member-3" member_name: "Hanako" measured_at { seconds: 1790000000 }
weight_kg: 52.5 body_fat_percent: 24.1 segments { segment: "trunk" fat_percent: 20 muscle_kg: 18 }
extra_metrics { key: "bmi" value: 21.3 } device { device_id: "scale-1" firmware: "2.1" }
contact { email: "h@example.jp" } plan_code: "family"
T
encode_test consentry.test.UnknownCategory <<'T' | projection_seed malformed 8 8
member_id: "m" genome: "ACGT"
T
# Found by fuzzing: a dynamic Record whose map entries hold unknown fields.
printf "$(printf '%s' 00124f6fec3fc9724b41fadcc88f18beddedd77e2f778520eac8b711b65dba2a680a086d656d6265722d3732080a016b12017618072a0e0a017012070a0373656748012005 |
  sed 's/../\\x&/g')" > "$out/projection_fuzzer/unknown_in_map_entries"
for s in 1 2 3 4; do
  { printf "\\x$(printf '%02x' $((6 + s % 2)))"
    pseudo_random_bytes 32 "synthesized-$s-a"
    printf '\x28'
    pseudo_random_bytes 40 "synthesized-$s-b"
    printf '\x0a\x06s-fuzz\x12\x02hi\x18\x01'; } > "$out/projection_fuzzer/synthesized_$s"
done

# --- recipients_fuzzer ------------------------------------------------------
# Layout: a form byte ('0' text, '1' JSON, '2' binary), 24 control bytes,
# then the registry.
rm -rf "$out/recipients_fuzzer"
mkdir -p "$out/recipients_fuzzer"
recipients_seed() {  # <name> <form byte> <control seed>; registry on stdin
  { printf '%s' "$2"
    pseudo_random_bytes 24 "recipients-$3"
    cat; } > "$out/recipients_fuzzer/$1"
}
encode_recipients() {
  protoc --encode=consentry.v1.RecipientRegistry -I proto -I /usr/include \
    proto/consentry/v1/recipient.proto
}
recipients_seed default.text 0 1 < policies/recipients.textproto
# A vetting time with negative nanos (valid registries hold none).
{ printf '0'; head -c 24 /dev/zero
  sed 's/vetted_time { seconds: 1767225600 }/vetted_time { seconds: 1767225600 nanos: -5 }/' \
    policies/recipients.textproto; } > "$out/recipients_fuzzer/out_of_range_nanos.text"
encode_recipients < policies/recipients.textproto | recipients_seed default.bin 2 2
cat > /tmp/consentry_more_recipients.textproto <<'T'
recipients { id: "carrier-partner" name: "Carrier Partner" kind: RECIPIENT_KIND_THIRD_PARTY
  vetting_status: VETTING_STATUS_APPROVED vetted_time { seconds: 1767225600 }
  purposes: "service.operation" consent_purpose: "provision.third_party.partner_insurer" }
recipients { id: "lab-us" name: "Lab US Inc." kind: RECIPIENT_KIND_FOREIGN_THIRD_PARTY
  vetting_status: VETTING_STATUS_APPROVED vetted_time { seconds: 1767225600 }
  purposes: "marketing.promotion" consent_purpose: "provision.foreign_third_party"
  country: "US" foreign_basis: FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION information_ref: "notice-us-2026" }
recipients { id: "lab-de" name: "Lab DE GmbH" kind: RECIPIENT_KIND_FOREIGN_THIRD_PARTY
  vetting_status: VETTING_STATUS_APPROVED vetted_time { seconds: 1767225600 } vetting_expiry { seconds: 1790000000 }
  purposes: "statistics" consent_purpose: "provision.foreign_third_party"
  country: "DE" foreign_basis: FOREIGN_TRANSFER_BASIS_EQUIVALENT_COUNTRY }
recipients { id: "group-company" name: "Group Company" kind: RECIPIENT_KIND_JOINT_USER
  vetting_status: VETTING_STATUS_APPROVED vetted_time { seconds: 1767225600 }
  purposes: "support" joint_use { data_items: "contact" responsible_party: "the company" } }
recipients { id: "ops-contractor" name: "Ops" kind: RECIPIENT_KIND_CONTRACTOR
  vetting_status: VETTING_STATUS_APPROVED vetted_time { seconds: 1767225600 }
  contract { contract_ref: "C-1" safety_measures: "m" confidentiality: true }
  monitoring_interval { seconds: 86400 } last_monitored_time { seconds: 1789990000 }
  purposes: "service" purposes: "billing" record_method: RECORD_METHOD_CONTRACT_DOCUMENT }
recipients { id: "pending-one" name: "Pending" kind: RECIPIENT_KIND_JOINT_USER
  vetting_status: VETTING_STATUS_PENDING purposes: "support"
  joint_use { data_items: "contact" responsible_party: "p" } }
T
recipients_seed mixed.text 0 3 < /tmp/consentry_more_recipients.textproto
recipients_seed mixed_b.text 0 4 < /tmp/consentry_more_recipients.textproto
encode_recipients < /tmp/consentry_more_recipients.textproto | recipients_seed mixed.bin 2 5
rm -f /tmp/consentry_more_recipients.textproto
recipients_seed minimal.json 1 6 <<'J'
{"recipients": [{"id": "x", "name": "X", "kind": "RECIPIENT_KIND_THIRD_PARTY",
  "vetting_status": "VETTING_STATUS_APPROVED", "vetted_time": "2026-01-01T00:00:00Z",
  "purposes": ["marketing"], "consent_purpose": "provision.third_party"}]}
J
recipients_seed invalid.text 0 7 <<'T'
recipients { id: "Bad Id" name: "" kind: 9 }
T
recipients_seed duplicate.text 0 8 <<'T'
recipients { id: "a" name: "A" kind: RECIPIENT_KIND_JOINT_USER vetting_status: VETTING_STATUS_REJECTED
  purposes: "support" joint_use { data_items: "x" responsible_party: "y" } }
recipients { id: "a" name: "A" kind: RECIPIENT_KIND_JOINT_USER vetting_status: VETTING_STATUS_REJECTED
  purposes: "support" joint_use { data_items: "x" responsible_party: "y" } }
T
echo "seed corpora written to $out/"
