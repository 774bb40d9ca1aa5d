#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Runs one example program and checks its output against the lines its
# expectation file promises, so that an example that stops doing what the
# README and its own comments say fails ctest.
#
#   run_example.sh EXPECT_FILE PROGRAM [ARG...]
#
# The program runs in a fresh temporary directory (its working directory and
# TMPDIR), removed afterwards. In ARGs, @TMP@ stands for that directory and
# @PG@ for the connection string of the ctest PostgreSQL fixture (the file
# $CONSENTRY_PG_CONNINFO_FILE names), @PGSTANDBY@ for that of its standby
# ($CONSENTRY_PG_STANDBY_CONNINFO_FILE).
#
# EXPECT_FILE (tests/examples/expected/<name>.txt), one rule a line:
#   # ...          a comment; blank lines are ignored
#   exit: N        the exit status required (default 0)
#   !REGEX         no line of the output may match REGEX
#   REGEX          some line of the output must match REGEX
#   N*REGEX        exactly N lines of the output must match REGEX
#   file:PATH REGEX  the program wrote PATH (relative to the temporary
#                  directory; a directory for an empty REGEX), and a line
#                  of it matches REGEX
# REGEX is a grep -E pattern, matched against stdout and stderr together.
# Every failed rule is named; the output is printed when any fails.
set -uo pipefail

expect_file=${1:?usage: run_example.sh EXPECT_FILE PROGRAM [ARG...]}
program=${2:?usage: run_example.sh EXPECT_FILE PROGRAM [ARG...]}
shift 2

if [ ! -f "$expect_file" ]; then
  echo "FAIL: no expectation file $expect_file for $(basename "$program");" \
       "write the lines the example promises there" >&2
  exit 1
fi

# The program runs elsewhere: name it absolutely.
if [[ $program == */* && $program != /* ]]; then
  program=$(cd "$(dirname "$program")" && pwd)/$(basename "$program")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/consentry-example.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

pg=""
args=()
for a in "$@"; do
  if [[ $a == *@PG@* ]]; then
    if [ -z "$pg" ]; then
      pg=$(cat "${CONSENTRY_PG_CONNINFO_FILE:?@PG@ needs the postgres fixture}") || exit 1
    fi
    a=${a//@PG@/$pg}
  fi
  if [[ $a == *@PGSTANDBY@* ]]; then
    standby=$(cat "${CONSENTRY_PG_STANDBY_CONNINFO_FILE:?@PGSTANDBY@ needs the postgres_standby fixture}") || exit 1
    a=${a//@PGSTANDBY@/$standby}
  fi
  args+=("${a//@TMP@/$tmp}")
done

out=$tmp/.output
(cd "$tmp" && TMPDIR=$tmp "$program" "${args[@]}") >"$out" 2>&1
status=$?

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

want_status=0
rules=0
while IFS= read -r line || [ -n "$line" ]; do
  [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
  rules=$((rules + 1))
  if [[ $line =~ ^exit:\ *([0-9]+)$ ]]; then
    want_status=${BASH_REMATCH[1]}
  elif [[ $line =~ ^file:([^[:space:]]+)[[:space:]]*(.*)$ ]]; then
    path=$tmp/${BASH_REMATCH[1]}
    re=${BASH_REMATCH[2]}
    if [ -z "$re" ]; then
      [ -e "$path" ] || fail "the program wrote no ${BASH_REMATCH[1]}"
    elif [ ! -f "$path" ]; then
      fail "the program wrote no file ${BASH_REMATCH[1]}"
    elif ! grep -Eq -- "$re" "$path"; then
      fail "no line of ${BASH_REMATCH[1]} matches /$re/"
    fi
  elif [[ $line == !* ]]; then
    if grep -Eq -- "${line:1}" "$out"; then
      fail "output matches forbidden /${line:1}/: $(grep -Em1 -- "${line:1}" "$out")"
    fi
  elif [[ $line =~ ^([0-9]+)\*(.*)$ ]]; then
    n=$(grep -Ec -- "${BASH_REMATCH[2]}" "$out")
    if [ "$n" -ne "${BASH_REMATCH[1]}" ]; then
      fail "/${BASH_REMATCH[2]}/ matches $n lines, expected ${BASH_REMATCH[1]}"
    fi
  elif ! grep -Eq -- "$line" "$out"; then
    fail "no output line matches /$line/"
  fi
done <"$expect_file"

if [ "$rules" -eq 0 ]; then
  fail "$expect_file has no rules"
fi
if [ "$status" -ne "$want_status" ]; then
  fail "exit status $status, expected $want_status"
fi
if [ "$failures" -gt 0 ]; then
  echo "---- output of $(basename "$program") ${args[*]} ----"
  cat "$out"
  echo "---- $failures failed rule(s) in $expect_file ----"
  exit 1
fi
echo "ok: $(basename "$program"): $rules rules of $expect_file hold"
