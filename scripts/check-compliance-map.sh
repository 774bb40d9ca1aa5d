#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Checks that every test the compliance map names exists, so that a renamed
# or deleted test cannot leave a requirement without proof. Reads the
# "Tests" column of every table in docs/compliance-map.md and checks each
# `code` span in it:
#
#   Suite.Test       a TEST / TEST_F / TEST_P / TYPED_TEST(Suite, Test) in
#                    tests/**/*.cc; `Suite.*` (or `Suite.Prefix*`) needs at
#                    least one test of the suite matching it
#   name_fuzzer      a fuzzer: fuzz/name_fuzzer.cc registered with
#                    consentry_fuzzer() in fuzz/CMakeLists.txt
#   name_test        a test binary of consentry_test() (any other bare
#                    lower-case name is reported: a misspelt fuzzer)
#   compile_fail.x   a ctest case of that name; likewise any other dotted
#   consentctl.cli   lower-case name (add_test(NAME ...) in a CMakeLists.txt,
#   example.x        or example.<name>[.postgres] of consentry_example())
#   path/to/file     a file or directory of the checkout (tests/..., fuzz/...)
#   name_test.sh     a shell test: a file of that name under tests/
#
# Other spans (an API name, a reason) are not test names and are skipped.
# Exits 1 naming each missing test with its row; 0 when all exist.
#
# Usage: scripts/check-compliance-map.sh [MAP] [ROOT]
#   MAP   default docs/compliance-map.md;  ROOT  default: this checkout
set -euo pipefail
root=${2:-$(cd "$(dirname "$0")/.." && pwd)}
map=${1:-$root/docs/compliance-map.md}
cd "$root"
[ -f "$map" ] || { echo "check-compliance-map: no map at $map" >&2; exit 2; }

# The tests that exist, one a line.
gtests=$(find tests -name '*.cc' -print0 | xargs -0 perl -0777 -ne '
  while (/\b(?:TYPED_)?TEST(?:_F|_P)?\s*\(\s*(\w+)\s*,\s*(\w+)\s*\)/g) {
    print "$1.$2\n";
  }' | sort -u)
ctests=$(find . -path ./build\* -prune -o -name CMakeLists.txt -print0 |
  xargs -0 perl -0777 -ne '
    while (/add_test\s*\(\s*NAME\s+([\w.\-]+)/g) { print "$1\n"; }
    while (/consentry_example\s*\(\s*(\w+)([^)]*)\)/g) {
      my ($name, $args) = ($1, $2);
      print "example.$name\n";
      print "example.$name.postgres\n" if $args =~ /\bPOSTGRES\b/;
    }' | sort -u)
binaries=$(perl -ne 'print "$1\n" if /^\s*consentry_test\s*\(\s*(\w+)/' \
  tests/CMakeLists.txt | sort -u)
shells=$(find tests -name '*.sh' -type f -printf '%f\n' | sort -u)
fuzzers=$(perl -ne 'print "$1\n" if /^\s*consentry_fuzzer\s*\(\s*(\w+)/' \
  fuzz/CMakeLists.txt | sort -u)

GTESTS=$gtests CTESTS=$ctests FUZZERS=$fuzzers SHELLS=$shells \
  BINARIES=$binaries \
  perl - "$map" <<'PERL'
  use strict; use warnings;
  my ($map) = @ARGV;
  my %gtest = map { $_ => 1 } split /\n/, $ENV{GTESTS};
  my @gtest = sort keys %gtest;
  my @ctest = split /\n/, $ENV{CTESTS};
  my %fuzzer = map { $_ => 1 } split /\n/, $ENV{FUZZERS};
  sub glob_re { my $g = quotemeta shift; $g =~ s/\\\*/.*/g; qr/^$g$/ }
  sub any_match { my ($re, @list) = @_; for (@list) { return 1 if $_ =~ $re } 0 }
  my %binary = map { $_ => 1 } split /\n/, $ENV{BINARIES};
  my %shell = map { $_ => 1 } split /\n/, $ENV{SHELLS};
  open my $fh, "<", $map or die "$map: $!";
  my ($col, $line, $checked, @missing) = (-1, 0, 0);
  while (my $row = <$fh>) {
    ++$line;
    if ($row !~ /^\s*\|/) { $col = -1; next; }
    $row =~ s/\\\|/\x00/g;
    my @cells = split /\|/, $row, -1;
    shift @cells;
    if ($col < 0) {
      for my $i (0 .. $#cells) { $col = $i if $cells[$i] =~ /^\s*Tests\s*$/ }
      $col = -2 if $col < 0;  # a table without a Tests column
      next;
    }
    next if $col < 0 || $row =~ /^\s*\|[\s:|-]+$/ || $col > $#cells;
    (my $source = $cells[0]) =~ s/^\s+|\s+$//g;
    for my $span ($cells[$col] =~ /`([^`]+)`/g) {
      my $t = $span; my $ok;
      $t =~ s{^\w+/(\w+\.[\w*]+)(?:/\S*)?$}{$1};  # Prefix/Suite.Test/N
      if ($t =~ /^[A-Z]\w*\.[\w*]+$/) {
        $ok = $t =~ /\*/ ? any_match(glob_re($t), @gtest) : $gtest{$t};
      } elsif ($t =~ /^\w+_fuzzer$/) {
        $ok = $fuzzer{$t} && -f "fuzz/$t.cc";
      } elsif ($t =~ /^[a-z][a-z0-9_]*$/) {
        # A fuzzer or test binary name, misspelt or not.
        $ok = $binary{$t};
      } elsif ($t =~ /^[a-z][\w-]*(?:\.[\w*-]+)+$/ && $t !~ /\.(?:cc|h|sh|md|txt|textproto|proto|cmake)$/) {
        $ok = any_match(glob_re($t), @ctest);
      } elsif ($t =~ m{/}) {
        (my $path = $t) =~ s/[:#].*$//;
        $ok = -e $path;
      } elsif ($t =~ /^[\w-]+\.sh$/) {
        $ok = $shell{$t};
      } else {
        next;  # not a test name
      }
      ++$checked;
      push @missing, "$map:$line: row \"$source\": `$span` does not exist" unless $ok;
    }
  }
  if ($checked == 0) {
    print STDERR "check-compliance-map: $map names no tests (no table with a Tests column?)\n";
    exit 1;
  }
  if (@missing) {
    print STDERR "check-compliance-map: $_\n" for @missing;
    printf STDERR "check-compliance-map: %d of %d named tests missing\n",
      scalar @missing, $checked;
    exit 1;
  }
  print "check-compliance-map: all $checked tests named in $map exist\n";
PERL
