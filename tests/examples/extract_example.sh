#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Writes the example of a public header as a C++ fragment.
# Usage: extract_example.sh <include/consentry/x.h> <x.h.inc>
# The example is the comment block that follows the header's "// Example:"
# line: its code lines are indented by at least two spaces after "//", blank
# comment lines ("//") are kept, and it ends at the first line that is not a
# comment or is prose (fewer than two spaces after "//"). Fails when the
# header has no example, or when an example line is longer than 80 columns
# (a formatter would reflow it into unreadable code).
set -euo pipefail
header=$1
output=$2
awk -v header="$header" '
  !started { if ($0 ~ /^\/\/ Example:/) { started = 1; print "#line " NR + 1 " \"" header "\"" } next }
  length($0) > 80 {
    printf "%s:%d: example line over 80 columns\n", header, NR > "/dev/stderr"
    failed = 1; exit
  }
  $0 == "//" { print ""; next }
  /^\/\/   ?/ { sub(/^\/\/   ?/, ""); print; code = 1; next }
  { exit }
  END {
    if (failed) exit 1
    if (!code) { printf "%s: no \"// Example:\" block\n", header > "/dev/stderr"; exit 1 }
  }' "$header" > "$output.tmp"
if cmp -s "$output.tmp" "$output"; then rm "$output.tmp"; else mv "$output.tmp" "$output"; fi
