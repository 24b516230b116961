#!/usr/bin/env bash
# Adds AMD's ROCm apt repository (repo.radeon.com) for one ROCm release: its signing key in
# /etc/apt/keyrings/rocm.gpg, /etc/apt/sources.list.d/rocm.list, and a pin that prefers it.
# The ROCm worker image runs it in a throw-away stage (it needs curl and gnupg) and copies the
# three files into its runtime stage.
#   add-rocm-apt-repo.sh [--dry-run] VERSION [UBUNTU_CODENAME]
# VERSION e.g. 6.4.3; UBUNTU_CODENAME defaults to this system's (noble on Ubuntu 24.04).
# --dry-run: print what would be written, change nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

dry_run=0
if [ "${1:-}" = --dry-run ]; then
  dry_run=1
  shift
fi
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 [--dry-run] VERSION [UBUNTU_CODENAME]"
version=$1
[[ "$version" =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || die "bad ROCm version '$version'"
codename=${2:-$( (. /etc/os-release && echo "${VERSION_CODENAME:-}"))}
[ -n "$codename" ] || die "no Ubuntu codename given or found in /etc/os-release"
arch=$(dpkg --print-architecture)
repository=https://repo.radeon.com/rocm/apt/$version
source_line="deb [arch=$arch signed-by=/etc/apt/keyrings/rocm.gpg] $repository $codename main"
key_url=https://repo.radeon.com/rocm/rocm.gpg.key
pin=$'Package: *\nPin: release o=repo.radeon.com\nPin-Priority: 600'

if [ "$dry_run" = 1 ]; then
  log "dry run: would write /etc/apt/keyrings/rocm.gpg (from $key_url)"
  log "dry run: /etc/apt/sources.list.d/rocm.list: $source_line"
  exit 0
fi
mapfile -t missing < <(missing_packages ca-certificates curl gnupg)
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  apt_install "${missing[@]}"
fi
install -d -m 0755 /etc/apt/keyrings
curl -fsSL "$key_url" | gpg --dearmor > /etc/apt/keyrings/rocm.gpg
chmod 0644 /etc/apt/keyrings/rocm.gpg
echo "$source_line" > /etc/apt/sources.list.d/rocm.list
echo "$pin" > /etc/apt/preferences.d/rocm-pin-600
log "added $source_line"
