#!/usr/bin/env bash
# Checks an installed Quench tree (what build-and-install.sh put under PREFIX) the way the
# images use it:
#   - bin/quenchd, bin/quench-worker, bin/quench and lib/quench/libquench_sentencepiece.so exist;
#   - ldd finds every shared library each of them needs;
#   - each program's --help exits 0, run from PREFIX/bin;
#   - the programs find the SentencePiece module in the installed layout (core/tokenizer/
#     sentencepiece_engine.cc looks in ../lib/quench/ from the executable): a file that is not a
#     SentencePiece model must be refused by the module, not for want of it;
#   - with $QUENCH_VERIFY_TOKENIZER (or ../shared/models/stories260K beside a checkout) a real
#     SentencePiece tokenizer encodes a text.
#   verify-install.sh PREFIX
set -euo pipefail
source "$(dirname "$0")/common.sh"

[ $# -eq 1 ] || die "usage: $0 PREFIX"
prefix=$(cd "$1" && pwd)
programs=(quenchd quench-worker quench)
module=lib/quench/libquench_sentencepiece.so
# The module must be found without help.
unset QUENCH_SENTENCEPIECE_MODULE

for file in "${programs[@]/#/bin/}" "$module"; do
  [ -f "$prefix/$file" ] || die "$prefix/$file is missing"
done
for program in "${programs[@]}"; do
  [ -x "$prefix/bin/$program" ] || die "$prefix/bin/$program is not executable"
done
while IFS= read -r extra; do
  log "note: $prefix also holds $extra"
done < <(cd "$prefix" && find . -type f ! -path "./bin/quenchd" ! -path "./bin/quench-worker" \
  ! -path "./bin/quench" ! -path "./$module" | sed 's#^\./##')

for file in "${programs[@]/#/bin/}" "$module"; do
  if ! libraries=$(ldd "$prefix/$file" 2>&1); then
    die "ldd $prefix/$file failed: $libraries"
  fi
  if grep -q 'not found' <<< "$libraries"; then
    die "$file needs libraries that are not found:
$(grep 'not found' <<< "$libraries")"
  fi
done
log "ldd: every library of ${programs[*]} and $(basename "$module") resolves"

for program in "${programs[@]}"; do
  if ! output=$("$prefix/bin/$program" --help 2>&1); then
    die "$program --help failed: $output"
  fi
done
log "--help: ${programs[*]} run"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/quench-verify.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
echo 'not a SentencePiece model' > "$scratch/tokenizer.model"
quench=$prefix/bin/quench
if output=$("$quench" tokenize --tokenizer "$scratch/tokenizer.model" --text x 2>&1); then
  die "quench tokenize accepted a file that is not a SentencePiece model: $output"
fi
if grep -q -e 'cannot load the SentencePiece module' -e libquench_sentencepiece.so <<< "$output"
then
  die "quench does not find its SentencePiece module in the installed layout: $output"
fi
log "SentencePiece module: loaded from $module"

tokenizer=${QUENCH_VERIFY_TOKENIZER:-}
root=$(quench_repo_root)
shared_model=$root/../shared/models/stories260K
if [ -z "$tokenizer" ] && [ -n "$root" ] && [ -f "$shared_model/tokenizer.model" ]; then
  tokenizer=$(cd "$shared_model" && pwd)
fi
if [ -n "$tokenizer" ]; then
  output=$("$quench" tokenize --tokenizer "$tokenizer" --text 'Once upon a time' --json) ||
    die "quench tokenize with $tokenizer failed"
  grep -q '"count":[1-9]' <<< "$output" || die "quench tokenize with $tokenizer: $output"
  log "tokenize with $tokenizer: $output"
else
  log "no tokenizer to try (set QUENCH_VERIFY_TOKENIZER): only the module check ran"
fi
