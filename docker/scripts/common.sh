# Helpers the docker/scripts/*.sh share (sourced, not run). The scripts run both inside an image
# build (as root, in a RUN) and on a Debian 12 host (docker/scripts/check-on-host.sh, with
# --dry-run where they would change the machine).

# The repository root when the scripts run from a checkout (or a copy of one, as in the build
# stages); empty when they were copied on their own (the runtime stages).
quench_repo_root() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ -f "$root/CMakeLists.txt" ] && [ -d "$root/docker" ]; then echo "$root"; fi
}

log() { echo "$(basename "$0"): $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Package names in list files: one per line; '#' starts a comment; blank lines are skipped.
read_package_list() {
  local file
  for file in "$@"; do
    [ -f "$file" ] || die "no package list $file"
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$file" | sed '/^$/d'
  done
}

# Runs a command as root: directly when root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo > /dev/null; then
    sudo "$@"
  else
    die "needs root (or sudo) for: $*"
  fi
}

# apt-get install without recommended packages. With QUENCH_DRY_RUN=1 apt only simulates the
# install (no root needed, nothing changes), which still fails for a name apt does not know.
# Callers remove /var/lib/apt/lists in the same RUN (the Dockerfiles do, after the script).
apt_install() {
  [ $# -gt 0 ] || return 0
  if [ "${QUENCH_DRY_RUN:-0}" = 1 ]; then
    log "simulating: apt-get install --no-install-recommends $*"
    apt-get install -s -q --no-install-recommends "$@" > /dev/null
  else
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  fi
}

apt_update() {
  if [ "${QUENCH_DRY_RUN:-0}" = 1 ]; then
    log "dry run: no apt-get update"
  else
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  fi
}

# Names among the arguments that dpkg does not list as installed.
missing_packages() {
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}\n' "${package%%=*}" 2> /dev/null |
      grep -q '^install ok installed$' || echo "$package"
  done
}

# Whether a package name is a compiler, a build tool or a development package: none of those
# belong in a runtime image (tests/docker/dockerfile_lint_test.py has the same rule).
is_build_only_package() {
  case "$1" in
    *-dev | *-dev:* | *-dev-* | *-devel | *-devel-*) return 0 ;;
    gcc | gcc-[0-9]* | g++ | g++-[0-9]* | cpp | cpp-[0-9]* | build-essential | make | cmake | \
      cmake-data | ninja-build | clang | clang-[0-9]* | llvm | llvm-[0-9]* | binutils | \
      cuda-nvcc* | cuda-compiler* | cuda-toolkit* | hipcc | rocm-dev | rocm-llvm | \
      protobuf-compiler | protobuf-compiler-grpc | pkg-config | pkgconf)
      return 0
      ;;
  esac
  return 1
}
