#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Installs what is missing, builds, and runs every test. This is what CI runs
# (.ci/run), with no arguments. Stages, in order:
#
#   build  g++ build (build/): everything, full ctest (incl. the install test)
#   asan   clang ASan+UBSan build (build-asan/) with -Wthread-safety -Werror
#          and the fuzzers: full ctest, which also replays every fuzzer's
#          seed corpus
#   tsan   clang TSan build (build-tsan/): the tests labelled "concurrency"
#   fuzz   each fuzzer in build-asan/ for a short budget over its corpus
#
# Usage:
#   scripts/test.sh               every stage (CI)
#   scripts/test.sh --quick       only `build`
#   scripts/test.sh asan tsan     the named stages, in the order above
# Environment: JOBS (default: nproc), FUZZ_SECONDS (per fuzzer, default 20),
# FUZZ_RUNS (per fuzzer, default 2000000), BUILD_DIR (default build).
# Long fuzzing runs: scripts/fuzz.sh (see docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_STAGES=(build asan tsan fuzz)
stages=()
for arg in "$@"; do
  case "$arg" in
    --quick) stages+=(build) ;;
    build|asan|tsan|fuzz) stages+=("$arg") ;;
    -h|--help) sed -n '4,22p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown stage '$arg' (build asan tsan fuzz --quick)" >&2; exit 2 ;;
  esac
done
[ ${#stages[@]} -eq 0 ] && stages=("${ALL_STAGES[@]}")
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

scripts/install-deps.sh
scripts/check-programs.sh
# The dependency rule between the library's subsystems (docs/architecture.md).
scripts/check-layering.sh
# Every test the compliance map names exists (docs/compliance-map.md).
scripts/check-compliance-map.sh
JOBS=${JOBS:-$(nproc)}
BUILD=${BUILD_DIR:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_RUNS=${FUZZ_RUNS:-2000000}
source scripts/sanitizer-env.sh

declare -a timings=()
stage_start() { echo; echo "=== test.sh: $1 ==="; STAGE_T0=$SECONDS; }
stage_end() { timings+=("$1: $((SECONDS - STAGE_T0)) s"); }

# Sanitizer builds: no benchmarks, examples or install rules; tests only,
# with their common headers precompiled once (tests/CMakeLists.txt).
SAN_FLAGS=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
           -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
           -DCONSENTRY_BUILD_TESTS=ON
           -DCONSENTRY_BUILD_BENCHMARKS=OFF -DCONSENTRY_BUILD_EXAMPLES=OFF
           -DCONSENTRY_INSTALL=OFF -DCONSENTRY_PRECOMPILE_HEADERS=ON
           -DCONSENTRY_WITH_SQLITE=ON -DCONSENTRY_WITH_POSTGRES=ON)

configure_asan() {
  cmake -S . -B build-asan "${SAN_FLAGS[@]}" -DCONSENTRY_SANITIZE=address \
    -DCONSENTRY_BUILD_FUZZERS=ON
}

if want build; then
  stage_start "build: g++, full ctest"
  # Every option is set explicitly: the directory may have been configured
  # by scripts/demo.sh (tests off) or by hand, and a cached OFF would build
  # and run nothing.
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCONSENTRY_BUILD_TESTS=ON -DCONSENTRY_BUILD_EXAMPLES=ON \
    -DCONSENTRY_BUILD_BENCHMARKS=ON -DCONSENTRY_INSTALL=ON \
    -DCONSENTRY_BUILD_FUZZERS=OFF -DCONSENTRY_SANITIZE= \
    -DCONSENTRY_PRECOMPILE_HEADERS=OFF \
    -DCONSENTRY_WITH_SQLITE=ON -DCONSENTRY_WITH_POSTGRES=ON
  cmake --build "$BUILD" -j "$JOBS"
  ctest --test-dir "$BUILD" -j "$JOBS" --output-on-failure --timeout 600 \
    --no-tests=error
  stage_end build
fi

if want asan; then
  stage_start "asan: clang ASan+UBSan, -Wthread-safety -Werror, full ctest"
  configure_asan
  cmake --build build-asan -j "$JOBS"
  ctest --test-dir build-asan -j "$JOBS" --output-on-failure --timeout 900 \
    --no-tests=error
  stage_end asan
fi

if want tsan; then
  stage_start "tsan: clang TSan, ctest -L concurrency"
  cmake -S . -B build-tsan "${SAN_FLAGS[@]}" -DCONSENTRY_SANITIZE=thread \
    -DCONSENTRY_BUILD_FUZZERS=OFF
  cmake --build build-tsan -j "$JOBS" --target concurrency_tests
  ctest --test-dir build-tsan -L concurrency -j "$JOBS" --output-on-failure \
    --timeout 900 --no-tests=error
  stage_end tsan
fi

if want fuzz; then
  stage_start "fuzz: ${FUZZ_SECONDS} s per fuzzer"
  if ! want asan; then
    configure_asan
    cmake --build build-asan -j "$JOBS" --target fuzzers
  fi
  # Fuzzers that round-trip through PostgreSQL get a throwaway server.
  pg_state=build-asan/fuzz-pg
  tests/pg/start.sh --fresh "$pg_state" >/dev/null
  trap 'tests/pg/stop.sh --cleanup "$pg_state" >/dev/null 2>&1 || true' EXIT
  CONSENTRY_PG_CONNINFO=$(cat "$pg_state/conninfo") \
    scripts/fuzz.sh --build-dir build-asan --runs "$FUZZ_RUNS" "$FUZZ_SECONDS"
  tests/pg/stop.sh --cleanup "$pg_state" >/dev/null
  trap - EXIT
  stage_end fuzz
fi

echo
echo "=== test.sh: all requested stages passed ==="
printf '  %s\n' "${timings[@]}"
echo "  total: ${SECONDS} s"
