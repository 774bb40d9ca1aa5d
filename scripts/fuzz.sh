#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Runs every libFuzzer target (or the named ones) for SECONDS each over its
# seed corpus in tests/fuzz_corpus/<name>/. New inputs go to a scratch
# corpus in <build-dir>/fuzz-work/<name>/; the committed corpus is not
# touched unless --merge is given. A crash or property violation stops the
# run and names the saved input. See docs/fuzzing.md.
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
  bin="$build/fuzz/$name"
  seeds="tests/fuzz_corpus/$name"
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz.sh: '$name' needs $bin and $seeds" >&2
    exit 2
  fi
  work="$build/fuzz-work/$name"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  echo "--- $name: ${seconds} s${runs:+, at most $runs runs}"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [ -n "$runs" ] && args+=(-runs="$runs")
  if ! "$bin" "${args[@]}" "$work/corpus" "$seeds" > "$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "fuzz.sh: $name FAILED; input saved in $work/artifacts/:" >&2
    ls -l "$work/artifacts/" >&2
    echo "reproduce: $bin $work/artifacts/<file>" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov: " "$work/log" | tail -n 3
  if [ "$merge" = 1 ]; then
    "$bin" -merge=1 "$seeds" "$work/corpus" > "$work/merge.log" 2>&1
    echo "merged into $seeds: $(ls "$seeds" | wc -l) inputs"
  fi
done
echo "fuzz.sh: ${#fuzzers[@]} fuzzer(s) passed"
