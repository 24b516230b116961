#!/usr/bin/env bash
# Configures, builds and installs Quench into PREFIX, then checks the installed tree
# (docker/scripts/verify-install.sh). Every image's build stage runs it.
#   build-and-install.sh BUILD_DIR PREFIX [CMAKE_ARG...]
#       configure (Ninja, Release, no tests, no benchmarks, then CMAKE_ARGs, e.g.
#       -DQUENCH_GPU=cuda), build with $QUENCH_BUILD_JOBS jobs (default: every core), install
#   build-and-install.sh --install-only BUILD_DIR PREFIX
#       only install from an already built BUILD_DIR (what docker/scripts/check-on-host.sh does
#       with the test build, which it must not build again)
# PREFIX gets bin/{quenchd,quench-worker,quench} and lib/quench/libquench_sentencepiece.so, the
# ELF files stripped of symbols unless QUENCH_STRIP=0.
set -euo pipefail
source "$(dirname "$0")/common.sh"

install_only=0
if [ "${1:-}" = --install-only ]; then
  install_only=1
  shift
fi
[ $# -ge 2 ] || die "usage: $0 [--install-only] BUILD_DIR PREFIX [CMAKE_ARG...]"
build_dir=$1
prefix=$2
shift 2
[ "$install_only" = 0 ] || [ $# -eq 0 ] || die "--install-only takes no CMake arguments"

if [ "$install_only" = 0 ]; then
  root=$(quench_repo_root)
  [ -n "$root" ] || die "run from a checkout"
  jobs=${QUENCH_BUILD_JOBS:-$(nproc)}
  cmake -S "$root" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DQUENCH_BUILD_TESTS=OFF -DQUENCH_BUILD_BENCHMARKS=OFF "$@"
  cmake --build "$build_dir" -j "$jobs"
fi

[ -f "$build_dir/cmake_install.cmake" ] || die "$build_dir is not a configured build directory"
grep -q quench_sentencepiece "$build_dir/core/cmake_install.cmake" 2> /dev/null ||
  die "$build_dir was configured before Quench had install rules: run cmake on it again"
cmake --install "$build_dir" --prefix "$prefix"

if [ "${QUENCH_STRIP:-1}" != 0 ]; then
  for file in "$prefix"/bin/* "$prefix"/lib/quench/*.so; do
    strip --strip-unneeded "$file"
  done
fi
"$(dirname "$0")/verify-install.sh" "$prefix"
