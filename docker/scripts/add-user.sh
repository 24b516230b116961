#!/usr/bin/env bash
# Creates the unprivileged account the images run as: group NAME and user NAME, both with id ID,
# no password, no login shell, home HOME (created, owned by the user, mode 0750).
#   add-user.sh [--dry-run] NAME ID HOME
# The images use quench 10001 /var/lib/quench (quenchd's data directory); the Kubernetes
# manifests (deploy/) run as that uid/gid. --dry-run only checks the arguments and the tools.
set -euo pipefail
source "$(dirname "$0")/common.sh"

dry_run=0
if [ "${1:-}" = --dry-run ]; then
  dry_run=1
  shift
fi
[ $# -eq 3 ] || die "usage: $0 [--dry-run] NAME ID HOME"
name=$1
id=$2
home=$3
[[ "$name" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad user name '$name'"
[[ "$id" =~ ^[0-9]+$ ]] && [ "$id" -ge 1000 ] ||
  die "the id must be a number from 1000 up (got '$id')"
[[ "$home" = /* ]] || die "HOME must be an absolute path (got '$home')"
for tool in groupadd useradd install; do
  command -v "$tool" > /dev/null || die "$tool is missing"
done
if [ "$dry_run" = 1 ]; then
  log "dry run: would create group and user $name ($id:$id), home $home"
  exit 0
fi

getent group "$id" > /dev/null && die "gid $id is taken: $(getent group "$id")"
getent passwd "$id" > /dev/null && die "uid $id is taken: $(getent passwd "$id")"
groupadd --gid "$id" "$name"
# --no-log-init: no sparse lastlog/faillog entry sized by the uid.
useradd --uid "$id" --gid "$id" --no-create-home --home-dir "$home" --shell /usr/sbin/nologin \
  --no-log-init "$name"
install -d -m 0750 -o "$id" -g "$id" "$home"
log "created $name ($id:$id), home $home"
