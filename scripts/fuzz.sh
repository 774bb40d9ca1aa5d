#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Runs every libFuzzer target (or the named ones) for SECONDS each over its
# seed corpus in tests/fuzz_corpus/<name>/, JOBS (default: nproc) of them
# at a time. New inputs go to a scratch corpus in
# <build-dir>/fuzz-work/<name>/; the committed corpus is not touched unless
# --merge is given. A crash or property violation stops that fuzzer; the
# run then fails and names the saved input. See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [--build-dir DIR] [--runs N] [--merge] [SECONDS] [FUZZER...]
#   SECONDS      per fuzzer (default 600)
#   --runs N     also stop each fuzzer after N inputs (default: no limit)
#   --merge      afterwards, add the inputs that found new coverage to
#                tests/fuzz_corpus/<name>/ (minimised), to be committed
#   --build-dir  the clang ASan build with CONSENTRY_BUILD_FUZZERS=ON
#                (default build-asan; configured and built when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-asan
runs=""
merge=0
seconds=600
fuzzers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '4,18p' "$0"; exit 0 ;;
    [0-9]*) seconds=$1; shift ;;
    *) fuzzers+=("$1"); shift ;;
  esac
done
if [ ${#fuzzers[@]} -eq 0 ]; then
  for d in tests/fuzz_corpus/*/; do fuzzers+=("$(basename "$d")"); done
fi

source scripts/sanitizer-env.sh

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCONSENTRY_SANITIZE=address -DCONSENTRY_BUILD_FUZZERS=ON \
    -DCONSENTRY_BUILD_BENCHMARKS=OFF -DCONSENTRY_BUILD_EXAMPLES=OFF \
    -DCONSENTRY_INSTALL=OFF
fi
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target fuzzers

for name in "${fuzzers[@]}"; do
  if [ ! -x "$build/fuzz/$name" ] || [ ! -d "tests/fuzz_corpus/$name" ]; then
    echo "fuzz.sh: '$name' needs $build/fuzz/$name and tests/fuzz_corpus/$name" >&2
    exit 2
  fi
done

# Runs one fuzzer; its output goes to $build/fuzz-work/<name>/log and its
# exit status to .../rc.
run_one() {
  local name=$1
  local bin="$build/fuzz/$name" seeds="tests/fuzz_corpus/$name"
  local work="$build/fuzz-work/$name"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560
              -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [ -n "$runs" ] && args+=(-runs="$runs")
  local rc=0
  "$bin" "${args[@]}" "$work/corpus" "$seeds" > "$work/log" 2>&1 || rc=$?
  echo "$rc" > "$work/rc"
}

# The fuzzers run side by side, as many at a time as there are jobs (each
# is single-threaded), so the wall time is about SECONDS x fuzzers / jobs.
jobs_max=${JOBS:-$(nproc)}
echo "fuzz.sh: ${#fuzzers[@]} fuzzer(s), ${seconds} s each${runs:+, at most $runs runs}, $jobs_max at a time"
running=0
for name in "${fuzzers[@]}"; do
  work="$build/fuzz-work/$name"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$name" &
  running=$((running + 1))
done
wait

failed=0
for name in "${fuzzers[@]}"; do
  work="$build/fuzz-work/$name"
  rc=$(cat "$work/rc" 2>/dev/null || echo 1)
  if [ "$rc" != 0 ]; then
    tail -n 60 "$work/log"
    echo "fuzz.sh: $name FAILED (exit $rc); input saved in $work/artifacts/:" >&2
    ls -l "$work/artifacts/" >&2
    echo "reproduce: $build/fuzz/$name $work/artifacts/<file>" >&2
    failed=1
    continue
  fi
  echo "--- $name"
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov: " "$work/log" | tail -n 3
  if [ "$merge" = 1 ]; then
    "$build/fuzz/$name" -merge=1 "tests/fuzz_corpus/$name" "$work/corpus" \
      > "$work/merge.log" 2>&1
    echo "merged into tests/fuzz_corpus/$name: $(ls "tests/fuzz_corpus/$name" | wc -l) inputs"
  fi
done
[ "$failed" = 0 ] || exit 1
echo "fuzz.sh: ${#fuzzers[@]} fuzzer(s) passed"
