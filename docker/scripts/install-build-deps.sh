#!/usr/bin/env bash
# Installs what building Quench needs, in an image's build stage (or checks it on a host).
#   install-build-deps.sh [--dry-run] [EXTRA_PACKAGE...]
# The packages are scripts/packages.txt (the one list the project builds with) less
# docker/packages-build-exclude.txt (what only the tests, benchmarks and linters need), plus
# EXTRA_PACKAGEs (e.g. the ROCm image's hipBLAS/rocSOLVER development packages). Runs from a
# checkout or a copy of one. --dry-run: apt only simulates (no root; checks every name resolves).
# The caller removes /var/lib/apt/lists afterwards in the same RUN.
set -euo pipefail
source "$(dirname "$0")/common.sh"

if [ "${1:-}" = --dry-run ]; then
  export QUENCH_DRY_RUN=1
  shift
fi
root=$(quench_repo_root)
[ -n "$root" ] || die "run from a checkout (scripts/packages.txt is read from it)"

mapfile -t all < <(read_package_list "$root/scripts/packages.txt")
mapfile -t excluded < <(read_package_list "$root/docker/packages-build-exclude.txt")
for name in "${excluded[@]}"; do
  printf '%s\n' "${all[@]}" | grep -qxF "$name" ||
    log "note: docker/packages-build-exclude.txt names $name, not in scripts/packages.txt"
done
packages=()
for name in "${all[@]}"; do
  printf '%s\n' "${excluded[@]}" | grep -qxF "$name" || packages+=("$name")
done
packages+=("$@")

log "${#packages[@]} packages: ${packages[*]}"
apt_update
apt_install "${packages[@]}"
