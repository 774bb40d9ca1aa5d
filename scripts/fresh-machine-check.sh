#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Runs README.md's two set-up commands, in README's order, on a brand-new
# minimal Debian 12 (debootstrap --variant=minbase, nothing else installed)
# in a chroot: what a new user's machine looks like, and what a developer's
# machine (where every package is already there) cannot show. Run it before
# resolving anything that touches the build, the scripts or the package list
# in scripts/install-deps.sh. Takes about 20 minutes on 2 cores; needs root.
#
# Usage: scripts/fresh-machine-check.sh [COMMAND...]
#   COMMAND  run these instead of README's (default: scripts/demo.sh, then
#            scripts/test.sh); each in the project root inside the chroot
# Environment: FRESH_CACHE (default ~/.cache/consentry-fresh) keeps the
# debootstrapped base system between runs; KEEP=1 keeps the chroot.
#
# The project is copied in as committed (git archive HEAD): commit first.
# Each command's log is FRESH_CACHE/<n>.log. At the end the number of tests
# the g++ stage ran on the fresh machine is compared with this checkout's
# build/ (when it exists): they must be equal.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-machine-check: needs root (debootstrap, chroot, mounts)" >&2
  exit 2
fi
commands=("$@")
[ ${#commands[@]} -eq 0 ] && commands=(scripts/demo.sh scripts/test.sh)

cache=${FRESH_CACHE:-$HOME/.cache/consentry-fresh}
mkdir -p "$cache"
if [ ! -f "$cache/bookworm-minbase.tgz" ]; then
  command -v debootstrap >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "fresh-machine-check: debootstrap minbase bookworm from $mirror (once)"
  rm -rf "$cache/rootfs"
  debootstrap --variant=minbase bookworm "$cache/rootfs" "$mirror" \
    >"$cache/debootstrap.log" 2>&1
  tar -C "$cache/rootfs" -czf "$cache/bookworm-minbase.tgz" .
  rm -rf "$cache/rootfs"
fi

root=$(mktemp -d "$cache/root.XXXXXX")
cleanup() {
  for m in dev proc sys; do umount -R -l "$root/$m" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "chroot kept in $root"; return; fi
  if grep -q " $root/" /proc/mounts; then
    echo "fresh-machine-check: mounts remain under $root; left in place" >&2
  else
    rm -rf "$root"
  fi
}
trap cleanup EXIT
tar -C "$root" -xzf "$cache/bookworm-minbase.tgz"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mkdir -p "$root/src/consentry"
git archive HEAD | tar -C "$root/src/consentry" -x

n=0
for cmd in "${commands[@]}"; do
  n=$((n + 1))
  log="$cache/$n.log"
  echo "=== fresh machine: $cmd (log: $log)"
  start=$(date +%s)
  if ! chroot "$root" /usr/bin/env -i HOME=/root \
       PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
       DEBIAN_FRONTEND=noninteractive \
       bash -c "cd /src/consentry && $cmd" >"$log" 2>&1; then
    echo "=== FAILED after $(( $(date +%s) - start )) s; last lines:"
    tail -n 30 "$log"
    exit 1
  fi
  echo "=== ok in $(( $(date +%s) - start )) s"
  tail -n 8 "$log"
done

# The g++ stage's ctest summary ("... out of N") against this checkout's.
fresh=$(grep -hoE 'tests passed, [0-9]+ tests failed out of [0-9]+' "$cache"/*.log |
        head -n 1 | grep -oE '[0-9]+$' || true)
if [ -n "$fresh" ] && [ -f build/CTestTestfile.cmake ]; then
  here=$(ctest --test-dir build -N 2>/dev/null | sed -n 's/^Total Tests: //p')
  echo "fresh-machine-check: g++ stage ran $fresh tests; build/ here has ${here:-?}"
  if [ -n "$here" ] && [ "$here" != "$fresh" ]; then
    echo "fresh-machine-check: test counts differ" >&2
    exit 1
  fi
fi
echo "fresh-machine-check: all commands passed on a minimal Debian 12"
