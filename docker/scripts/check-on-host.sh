#!/usr/bin/env bash
# Checks the image build steps on this Debian 12 host, where no Docker daemon runs (CI): the same
# scripts the Dockerfiles RUN, without building Quench a second time.
#   docker/scripts/check-on-host.sh [BUILD_DIR]    (default build/, already built)
# 1. bash -n on every script of docker/; the Dockerfile lint (tests/docker/): image rules, and
#    every file the Dockerfiles COPY and RUN exists in the build context.
# 2. The package steps with apt simulating (install-build-deps.sh, install-runtime-deps.sh),
#    add-user.sh and add-rocm-apt-repo.sh with --dry-run; as root, add-user.sh also for real on a
#    copy of /etc in a private mount namespace.
# 3. build-and-install.sh --install-only: `cmake --install` of BUILD_DIR into a scratch prefix,
#    stripped, then verify-install.sh on it (layout, ldd, --help, the SentencePiece module found
#    from bin/, a real tokenizer when ../shared has one).
# 4. runtime-packages.sh: every library the installed files load belongs to a package in
#    docker/packages-runtime.txt, so debian:12-slim plus that list runs them. CUDA's libraries
#    (present when BUILD_DIR was built with CUDA) are left to the CUDA image's base.
# 5. The all-in-one entry point (docker/bin/quench-all-in-one) from the installed tree on free
#    loopback ports: quench-healthcheck answers, a CPU worker connects (/metrics), SIGTERM stops
#    quenchd and the worker and the script exits 0; its CLI mode runs `quench`.
# Takes about 5-20 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
source docker/scripts/common.sh

build_dir=${1:-build}
started=$SECONDS
step() { echo "== check-on-host: $*"; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/quench-docker-check.XXXXXX")
entry_pid=
children=()
cleanup() {
  local pid
  if [ -n "$entry_pid" ]; then
    # A failed check leaves the entry point running: let it stop quenchd and the worker first.
    read -r -a children < <(cat /proc/"$entry_pid"/task/*/children 2> /dev/null) || true
    kill -TERM "$entry_pid" 2> /dev/null || true
    for _ in {1..50}; do
      kill -0 "$entry_pid" 2> /dev/null || break
      sleep 0.1
    done
  fi
  for pid in $entry_pid "${children[@]}"; do kill -KILL "$pid" 2> /dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

step "bash -n on docker/scripts/*.sh and docker/bin/*"
for script in docker/scripts/*.sh docker/bin/*; do
  bash -n "$script" || die "$script does not parse"
done

step "Dockerfile lint (tests/docker/dockerfile_lint_test.py)"
if ! lint=$(/usr/bin/python3 tests/docker/dockerfile_lint_test.py 2>&1); then
  echo "$lint" >&2
  die "the Dockerfile lint failed"
fi
tail -n 3 <<< "$lint"

step "package and user steps (apt simulates; nothing is installed)"
docker/scripts/install-build-deps.sh --dry-run
docker/scripts/install-runtime-deps.sh --dry-run docker/packages-runtime.txt
docker/scripts/add-user.sh --dry-run quench 10001 /var/lib/quench
# As root, add-user.sh runs for real in a private mount namespace, on a copy of /etc (skipped
# where namespaces or bind mounts are not allowed).
if [ "$(id -u)" -eq 0 ] && unshare -m true 2> /dev/null; then
  cp -a /etc "$scratch/etc"
  status=0
  unshare -m bash -c 'mount --bind "$1/etc" /etc 2> /dev/null || exit 99
    docker/scripts/add-user.sh quench 10001 "$1/home" &&
    [ "$(id -u quench):$(id -g quench):$(stat -c %u:%g "$1/home")" = 10001:10001:10001:10001 ]' \
    - "$scratch" || status=$?
  case $status in
    0) ;;
    99) log "note: no bind mount here; add-user.sh checked with --dry-run only" ;;
    *) die "add-user.sh failed in a private copy of /etc" ;;
  esac
  rm -rf "$scratch/etc" "$scratch/home"
fi
rocm_version=$(sed -n 's/^ARG ROCM_VERSION=//p' docker/worker-rocm.Dockerfile)
docker/scripts/add-rocm-apt-repo.sh --dry-run "$rocm_version" noble

step "install from $build_dir and verify the installed tree"
prefix=$scratch/prefix
docker/scripts/build-and-install.sh --install-only "$build_dir" "$prefix"

step "runtime packages (docker/packages-runtime.txt covers every library)"
packages=$(docker/scripts/runtime-packages.sh --allow-unowned-cuda \
  --require-listed docker/packages-runtime.txt "$prefix")
echo "needed: $(echo $packages)"

step "all-in-one entry point (quenchd + a CPU worker on loopback)"
mkdir -p "$scratch/data" "$scratch/models"
ready=$scratch/ready.json
PATH="$prefix/bin:$PWD/docker/bin:$PATH" QUENCH_LISTEN=127.0.0.1:0 QUENCH_HTTP_LISTEN=127.0.0.1:0 \
  QUENCH_DATA_DIR="$scratch/data" QUENCH_MODEL_ROOT="$scratch/models" QUENCH_READY_FILE="$ready" \
  QUENCH_WORKERS=1 docker/bin/quench-all-in-one > "$scratch/all-in-one.log" 2>&1 &
entry_pid=$!
fail() {
  echo "--- all-in-one log:" >&2
  cat "$scratch/all-in-one.log" >&2
  die "$*"
}
# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    kill -0 "$entry_pid" 2> /dev/null || return 1
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
wait_for 30 test -s "$ready" || fail "quenchd did not start (no $ready)"
http_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' "$ready")
wait_for 10 docker/bin/quench-healthcheck "$http_port" /healthz ||
  fail "quench-healthcheck on port $http_port failed"
worker_connected() {
  local metrics
  metrics=$(docker/bin/quench-healthcheck --body "$http_port" /metrics 2> /dev/null) &&
    grep -Eq '^quench_workers_connected(\{[^}]*\})? [1-9]' <<< "$metrics"
}
wait_for 20 worker_connected || fail "no worker connected (quench_workers_connected in /metrics)"
# quenchd and the worker, to check they are gone afterwards (where the kernel lists children;
# the file has no final newline).
if [ -e /proc/"$entry_pid"/task/"$entry_pid"/children ]; then
  read -r -a children < <(cat /proc/"$entry_pid"/task/*/children) || true
  [ ${#children[@]} -eq 2 ] ||
    fail "expected quenchd and one worker under the entry point, found ${#children[@]} processes"
fi
echo "healthcheck ok on port $http_port; a worker is connected; stopping with SIGTERM"
kill -TERM "$entry_pid"
deadline=$((SECONDS + 30))
while kill -0 "$entry_pid" 2> /dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
kill -0 "$entry_pid" 2> /dev/null && fail "quench-all-in-one did not stop within 30 s of SIGTERM"
status=0
wait "$entry_pid" || status=$?
entry_pid=
[ "$status" -eq 0 ] || fail "quench-all-in-one exited with status $status after SIGTERM"
for pid in "${children[@]}"; do
  kill -0 "$pid" 2> /dev/null && fail "process $pid outlived quench-all-in-one"
done
children=()
PATH="$prefix/bin:$PATH" docker/bin/quench-all-in-one recipe list > /dev/null ||
  die "quench-all-in-one recipe list (the CLI mode) failed"
echo "stopped cleanly: status 0, quenchd and the worker gone; the CLI mode runs quench"

step "passed in $((SECONDS - started)) s"
