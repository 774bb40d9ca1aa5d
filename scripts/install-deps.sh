#!/usr/bin/env bash
# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Installs the Debian packages consentry needs to build, test and demo, when
# they are missing. Safe to run again: installs nothing when all are present.
# Every program that a script or test calls comes from one of these packages
# or from Debian's minimal base system; scripts/check-programs.sh checks that.
#
#   install-deps.sh          install what is missing
#   install-deps.sh --list   print the package list, one a line
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libabsl-dev libprotobuf-dev libprotoc-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev sqlite3
  libpq-dev postgresql-15
  libssl-dev
  clang libclang-rt-14-dev
  chromium  # headless check of the consentctl HTML report
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq -o DPkg::Lock::Timeout=300
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
