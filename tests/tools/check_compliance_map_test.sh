#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# scripts/check-compliance-map.sh passes on the compliance map and fails,
# naming each, on misspelt tests of every kind it checks.
#
#   check_compliance_map_test.sh ROOT
set -uo pipefail
root=${1:?usage: check_compliance_map_test.sh ROOT}
check=$root/scripts/check-compliance-map.sh
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

bash "$check" "$root/docs/compliance-map.md" "$root" >"$t/out" 2>&1 ||
  fail "the compliance map does not pass: $(cat "$t/out")"

cat >"$t/map.md" <<'MAP'
| Source | Requirement | Feature | Tests |
|---|---|---|---|
| A | a | `Guard::Check` | `GuardTest.ErasedSubjectDeniesEveryRead`, `GuardTest.ErasedSubjectDeniesEveryReed` |
| B | b | f | `GuardHierarchyTest.*`, `GuardHeirarchyTest.*`, `OccasionConsentTest.RecordTagged*`, `OccasionConsentTest.Nothing*` |
| C | c | f | `policy_fuzzer`, `policy_fuzer`, `guard_test`, `compile_fail.protected_read`, `compile_fail.protected_reed` |
| D | d | f | `example.access_log`, `example.acces_log`, `tests/core/guard_test.cc`, `tests/core/gaurd_test.cc`, `consentctl_test.sh`, `consentctl_tests.sh` |
MAP
if bash "$check" "$t/map.md" "$root" >"$t/out" 2>&1; then
  fail "a map with misspelt tests passes"
fi
for name in GuardTest.ErasedSubjectDeniesEveryReed 'GuardHeirarchyTest.\*' \
    'OccasionConsentTest.Nothing\*' policy_fuzer compile_fail.protected_reed \
    example.acces_log tests/core/gaurd_test.cc consentctl_tests.sh; do
  grep -q "\`$name\` does not exist" "$t/out" || fail "$name is not named"
done
grep -q "8 of 17 named tests missing" "$t/out" ||
  fail "the count is wrong: $(tail -1 "$t/out")"
printf '# Empty\n\nNo table.\n' >"$t/empty.md"
bash "$check" "$t/empty.md" "$root" >/dev/null 2>&1 && fail "a map naming no tests passes"
bash "$check" "$t/none.md" "$root" >/dev/null 2>&1 && fail "a missing map passes"
[ "$failures" -eq 0 ] || { cat "$t/out"; exit 1; }
echo "ok"
