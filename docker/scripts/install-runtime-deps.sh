#!/usr/bin/env bash
# Installs runtime packages in an image's final stage (or checks them on a host).
#   install-runtime-deps.sh [--dry-run] LIST_FILE...
# Each LIST_FILE is a package list (one name per line, '#' comments): docker/packages-runtime.txt
# for the CPU images; for the GPU images also the list their build stage worked out
# (runtime-packages.sh) and docker/packages-runtime-rocm.txt. Packages the base image already
# has are left alone (the CUDA base's cuBLAS, say, is not upgraded past its pinned version).
# Refuses compilers and -dev packages. --dry-run: apt only simulates (no root needed).
# The caller removes /var/lib/apt/lists afterwards in the same RUN.
set -euo pipefail
source "$(dirname "$0")/common.sh"

if [ "${1:-}" = --dry-run ]; then
  export QUENCH_DRY_RUN=1
  shift
fi
[ $# -ge 1 ] || die "usage: $0 [--dry-run] LIST_FILE..."
mapfile -t packages < <(read_package_list "$@" | sort -u)
[ ${#packages[@]} -gt 0 ] || die "no packages in $*"
for package in "${packages[@]}"; do
  is_build_only_package "$package" && die "$package is a build-only package, not for an image"
done
mapfile -t missing < <(missing_packages "${packages[@]}")
log "${#packages[@]} packages, ${#missing[@]} to install: ${missing[*]}"
if [ ${#missing[@]} -gt 0 ] || [ "${QUENCH_DRY_RUN:-0}" = 1 ]; then
  apt_update
  # A dry run simulates every package, installed or not: the names must all resolve.
  if [ "${QUENCH_DRY_RUN:-0}" = 1 ]; then
    apt_install "${packages[@]}"
  else
    apt_install "${missing[@]}"
  fi
fi
