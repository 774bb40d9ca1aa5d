#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Installs what is missing, builds the library and examples, and runs the
# demo on the embedded default (no server needed).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
BUILD=${BUILD_DIR:-build}
# Every option the demo depends on is set here, so that a build directory
# configured before by scripts/test.sh (or by hand) builds what the demo
# needs; scripts/test.sh sets them all back for its own run.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCONSENTRY_BUILD_EXAMPLES=ON -DCONSENTRY_BUILD_TESTS=OFF \
  -DCONSENTRY_BUILD_BENCHMARKS=OFF -DCONSENTRY_BUILD_FUZZERS=OFF \
  -DCONSENTRY_SANITIZE= -DCONSENTRY_WITH_SQLITE=ON -DCONSENTRY_WITH_POSTGRES=ON \
  >/dev/null
cmake --build "$BUILD"

echo
echo "== billing_precharge: billing checks billing.calculation before charging =="
"$BUILD/examples/billing_precharge"

echo
echo "== policy_change: a policy revision, its material changes and re-consent =="
"$BUILD/examples/policy_change"

echo
echo "== weight_statistics: statistics on pseudonyms with cohort suppression =="
"$BUILD/examples/weight_statistics"

echo
echo "== contractor_provision: a call-centre gets contact data but not call history; a third party is refused after a stop =="
"$BUILD/examples/contractor_provision"

echo
echo "== disclosure_request: a disclosure request from receipt to the written answer =="
"$BUILD/examples/disclosure_request"

echo
echo "== consent_two_process: a withdrawal recorded in one process, enforced in billing =="
"$BUILD/examples/consent_two_process"

echo
echo "== health_projection: one measurement record, projected per purpose =="
"$BUILD/examples/health_projection"

echo
echo "== access_log: audited reads, verification, one subject's history =="
"$BUILD/examples/access_log"

echo
echo "== web_analytics: web usage read only with cookie consent; an opt-out takes effect on the next run =="
"$BUILD/examples/web_analytics"
