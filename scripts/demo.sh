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
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCONSENTRY_BUILD_TESTS=OFF -DCONSENTRY_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD"

echo
echo "== billing_precharge: billing checks billing.calculation before charging =="
"$BUILD/examples/billing_precharge"

echo
echo "== access_log: audited reads, verification, one subject's history =="
"$BUILD/examples/access_log"
