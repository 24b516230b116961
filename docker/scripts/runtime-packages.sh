#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that hold the shared libraries an installed Quench tree needs
# at run time (ldd on every ELF file under PREFIX, each library's owner from dpkg -S), one per
# line, sorted. glibc's own libraries (package libc6) are left out: every base image has them.
#   runtime-packages.sh [--allow-unowned-cuda] [--require-listed LIST_FILE] PATH...
# PATHs are installed files or directories (every ELF file under them counts).
# Fails when a library is not found, has no owning package, or belongs to a compiler or -dev
# package. Options:
#   --allow-unowned-cuda      a CUDA runtime library (libcudart, libcublas, libcublasLt,
#                             libcusolver, libcusparse, libnvJitLink) under a CUDA toolkit
#                             directory and owned by no package (a toolkit installed from NVIDIA's
#                             runfile, as on some hosts) is reported on stderr instead: the CUDA
#                             image's nvidia/cuda runtime base provides those.
#   --require-listed FILE     also fail unless every package printed is in FILE (a package list,
#                             e.g. docker/packages-runtime.txt); FILE's other names are reported.
set -euo pipefail
source "$(dirname "$0")/common.sh"

allow_unowned_cuda=0
required_list=
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-unowned-cuda) allow_unowned_cuda=1 ;;
    --require-listed)
      required_list=$2
      shift
      ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 1 ] || die "usage: $0 [--allow-unowned-cuda] [--require-listed LIST_FILE] PATH..."

# Where dpkg may know a library from: the path ldd printed, its /usr or non-/usr twin (merged
# /usr: dpkg records either) and the fully resolved path.
candidate_paths() {
  local path=$1
  echo "$path"
  case "$path" in
    /usr/lib/*) echo "${path#/usr}" ;;
    /lib/* | /lib64/*) echo "/usr$path" ;;
  esac
  readlink -f "$path"
}

cuda_runtime_library() {
  case "$(basename "$1")" in
    libcudart.so.* | libcublas.so.* | libcublasLt.so.* | libcusolver.so.* | libcusparse.so.* | \
      libnvJitLink.so.*)
      case "$(readlink -f "$1")" in */cuda*) return 0 ;; esac
      ;;
  esac
  return 1
}

mapfile -t files < <(find "$@" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) | sort)
[ ${#files[@]} -gt 0 ] || die "no programs or libraries in $*"
declare -A libraries=()
for file in "${files[@]}"; do
  # Skip what is not ELF (scripts).
  [ "$(head -c 4 "$file" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  output=$(ldd "$file" 2>&1) || die "ldd $file: $output"
  while read -r line; do
    case "$line" in
      *'not found'*) die "$file: $line" ;;
      *'=> /'*)
        path=${line#*=> }
        libraries[${path%% (*}]=1
        ;;
    esac
  done <<< "$output"
done

# One dpkg -S for every candidate path (it is slow to start): "pkg-a, pkg-b: /path" or
# "libfoo1:amd64: /path" lines; diversions and paths it does not know are skipped.
declare -A owners=()
mapfile -t candidates < <(
  for library in "${!libraries[@]}"; do candidate_paths "$library"; done | sort -u
)
while IFS= read -r line; do
  case "$line" in 'diversion by'* | *': /'*': /'*) continue ;; esac
  path=${line#*: /}
  owner=${line%%: /*}
  owner=${owner%%,*}
  owners[/$path]=${owner%%:*}
done < <(dpkg -S "${candidates[@]}" 2> /dev/null || true)

declare -A packages=()
for library in "${!libraries[@]}"; do
  package=
  while IFS= read -r candidate; do
    if [ -n "${owners[$candidate]:-}" ]; then
      package=${owners[$candidate]}
      break
    fi
  done < <(candidate_paths "$library")
  if [ -n "$package" ]; then
    [ "$package" = libc6 ] && continue
    is_build_only_package "$package" &&
      die "$library belongs to $package, a build-only package a runtime image must not carry"
    packages[$package]=1
  elif [ "$allow_unowned_cuda" = 1 ] && cuda_runtime_library "$library"; then
    log "$library: no package; in the CUDA image the nvidia/cuda runtime base provides it"
  else
    die "$library belongs to no package, so no runtime image would have it"
  fi
done
[ ${#packages[@]} -gt 0 ] || die "found no packages (are $* installed Quench programs?)"
mapfile -t needed < <(printf '%s\n' "${!packages[@]}" | sort)

if [ -n "$required_list" ]; then
  mapfile -t listed < <(read_package_list "$required_list")
  unlisted=()
  for package in "${needed[@]}"; do
    printf '%s\n' "${listed[@]}" | grep -qxF "$package" || unlisted+=("$package")
  done
  [ ${#unlisted[@]} -eq 0 ] ||
    die "$required_list lacks ${unlisted[*]}, which hold libraries the programs need"
  for package in "${listed[@]}"; do
    printf '%s\n' "${needed[@]}" | grep -qxF "$package" ||
      log "note: $required_list lists $package, which no installed library needs"
  done
fi
printf '%s\n' "${needed[@]}"
