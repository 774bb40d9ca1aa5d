# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Sanitizer runtime options for every sanitizer run (sourced by test.sh and
# fuzz.sh). Every report is fatal. Suppression files live in
# tests/sanitizers/ and are used only when present; see the README there.

_san_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/sanitizers"
_supp() { [ -f "$_san_dir/$1" ] && printf ':suppressions=%s' "$_san_dir/$1"; true; }

export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="print_suppressions=0$(_supp lsan.supp)${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1$(_supp ubsan.supp)${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1$(_supp tsan.supp)${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
unset -f _supp
unset _san_dir
