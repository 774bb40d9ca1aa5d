#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Lists the external programs that the project's shell scripts and shell
# tests call, and fails when one of them comes from a Debian package that a
# fresh machine does not have: one that is neither in scripts/install-deps.sh
# (or pulled in by a package there) nor part of Debian's minimal base system
# (Essential or Priority: required, what `debootstrap --variant=minbase`
# installs). A developer's machine has many programs a fresh one lacks; this
# makes a test that calls one of them fail here, not on a user's machine.
#
# Usage: scripts/check-programs.sh [-v] [FILE...]
#   FILE  shell files to scan (default: .ci/run, scripts/*.sh but
#         fresh-machine-check.sh, tests/**/*.sh, fuzz/*.sh)
#   -v    print every program found and the package it comes from
# Exit status: 0 all provided, 1 a program comes from a package not
# installed by install-deps.sh, 2 usage.
#
# The scan is lexical: the first word of each command (after `|`, `;`, `&&`,
# `||`, `$(`, `(`, backquotes, `then`, `do`, `else`, `if`, `while`, `!` and
# variable assignments), outside single-quoted strings, comments and
# here-documents. Words that name no program on this machine (functions,
# programs the build makes) are skipped. Programs called through a variable
# (`"$bindir/initdb"`) are not seen; keep those within packages named in
# install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

verbose=0
files=()
for arg in "$@"; do
  case "$arg" in
    -v) verbose=1 ;;
    -h|--help) sed -n '4,26p' "$0"; exit 0 ;;
    -*) echo "check-programs: unknown option '$arg'" >&2; exit 2 ;;
    *) files+=("$arg") ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then
  # Not fresh-machine-check.sh: it runs on the developer's own machine
  # (git, debootstrap), never on the fresh one.
  files=(.ci/run fuzz/*.sh)
  for f in scripts/*.sh; do
    [ "$f" = scripts/fresh-machine-check.sh ] || files+=("$f")
  done
  while IFS= read -r f; do files+=("$f"); done < <(find tests -name '*.sh' | sort)
fi

# Shell functions defined anywhere in the scanned files are not programs.
functions=$(sed -nE 's/^[[:space:]]*(function[[:space:]]+)?([A-Za-z_][A-Za-z0-9_-]*)[[:space:]]*\(\)[[:space:]]*\{?.*$/\2/p' \
            "${files[@]}" | sort -u)

# First words of commands, one per line, as "word<TAB>file".
scan() {
  local f=$1
  # 1. drop here-document bodies; 2. drop single-quoted strings and comments;
  # 3. split at command separators; 4. drop leading assignments and
  #    prefixes; 5. keep the first word.
  awk '
    heredoc != "" { if ($0 ~ "^[[:space:]]*" heredoc "[[:space:]]*$") heredoc = ""; next }
    {
      line = $0
      if (match(line, /<<-?[[:space:]]*["\047]?[A-Za-z_]+["\047]?/)) {
        tag = substr(line, RSTART, RLENGTH)
        gsub(/<<-?[[:space:]]*|["\047]/, "", tag)
        heredoc = tag
      }
      print line
    }' "$f" |
  sed -E "s/'[^']*'//g; s/(^|[[:space:]])#.*$//" |
  sed -E 's/\$\(/\n/g; s/`/\n/g; s/(\|\||&&|\||;|\(|\{)/\n/g' |
  sed -E 's/^[[:space:]]*//; s/^(then|do|else|elif|if|while|until|!|time|exec|command|sudo|env)[[:space:]]+//;
          s/^(then|do|else|elif|if|while|until|!|time|exec|command|sudo|env)[[:space:]]+//;
          s/^([A-Za-z_][A-Za-z0-9_]*=("[^"]*"|[^[:space:]]*)[[:space:]]+)+//' |
  grep -oE '^[A-Za-z][A-Za-z0-9._+-]*' | sed "s|\$|	$f|" || true
}

declare -A where=()
builtins=$(compgen -b -k | tr '\n' ' ')
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "check-programs: no file '$f'" >&2; exit 2; }
  while IFS=$'\t' read -r word file; do
    case " $builtins " in *" $word "*) continue ;; esac
    grep -qxF "$word" <<<"$functions" && continue
    where[$word]="${where[$word]:-} $file"
  done < <(scan "$f")
done

# Packages a fresh machine has after install-deps.sh: the minimal base
# system, the listed packages, and everything those depend on (as installed
# here, alternatives and virtual packages included).
mapfile -t listed < <(scripts/install-deps.sh --list)
provided=$(dpkg-query -W -f='${Package}\t${Essential}\t${Priority}\t${Provides}\t${Depends}, ${Pre-Depends}\n' |
  awk -F'\t' -v listed="${listed[*]}" '
    function clean(s) { gsub(/\([^)]*\)|:[a-z0-9]+|[[:space:]]/, "", s); return s }
    {
      pkg = $1; installed[pkg] = 1; deps[pkg] = $5
      if ($2 == "yes" || $3 == "required") base[pkg] = 1
      n = split($4, pv, ",")
      for (i = 1; i <= n; i++) { v = clean(pv[i]); if (v != "") providers[v] = providers[v] " " pkg }
    }
    END {
      n = split(listed, queue, " ")
      for (p in base) { queue[++n] = p }
      head = 1
      while (head <= n) {
        p = queue[head++]
        if (p in seen) continue
        seen[p] = 1
        if (!(p in installed)) {
          m = split(providers[p], alts, " ")
          for (j = 1; j <= m; j++) queue[++n] = alts[j]
          continue
        }
        k = split(deps[p], ds, /[,|]/)
        for (j = 1; j <= k; j++) { d = clean(ds[j]); if (d != "") queue[++n] = d }
      }
      for (p in seen) if (p in installed) print p
    }')

# Which package owns each program: one dpkg -S for all of them (it reads
# the whole file database on every call).
declare -A path_of=()
candidates=()
for word in "${!where[@]}"; do
  path=$(command -v "$word" 2>/dev/null || true)
  case "$path" in /*) ;; *) continue ;; esac   # not a program here
  path_of[$word]=$path
  candidates+=("$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}")
done
owners=$(dpkg -S "${candidates[@]}" 2>/dev/null | grep -v '^diversion by' || true)

status=0
for word in $(printf '%s\n' "${!path_of[@]}" | sort); do
  path=${path_of[$word]}
  pkg=""
  for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
    pkg=$(awk -v p="$candidate" '{ i = index($0, ": "); if (substr($0, i + 2) == p) { print substr($0, 1, i - 1); exit } }' <<<"$owners")
    pkg=${pkg%%,*}
    pkg=${pkg%%:*}
    [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then
    echo "check-programs: '$word' ($path) belongs to no Debian package; called in:${where[$word]}"
    status=1
  elif ! grep -qxF "$pkg" <<<"$provided"; then
    echo "check-programs: '$word' comes from package '$pkg', which scripts/install-deps.sh does not install; called in:${where[$word]}"
    status=1
  elif [ "$verbose" = 1 ]; then
    printf '  %-16s %s\n' "$word" "$pkg"
  fi
done
[ $status -eq 0 ] && echo "check-programs: every program the scripts and tests call is installed by install-deps.sh or the base system (${#where[@]} words scanned)"
exit $status
