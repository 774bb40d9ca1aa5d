#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Installs what is missing, builds everything, and runs every test with
# ctest. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
BUILD=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD" -j "$JOBS"
ctest --test-dir "$BUILD" -j "$JOBS" --output-on-failure --timeout 600
