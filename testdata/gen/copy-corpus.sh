#!/usr/bin/env bash
#
# copy-corpus.sh: bring the PCP QA archives, each with the libpcp 6.0.3 dump
# made from it (oracle.jsonl.gz), into testdata/pcp-qa/ so that tests in a
# plain clone can use them.
#
# usage (from the repo root):  bash testdata/gen/copy-corpus.sh [SOURCE]
#   SOURCE defaults to ../shared/corpus/pcp-qa (the shared developer corpus).
#
# The four largest archives (several MB each) are left out on purpose: they
# stay in the shared corpus for the developer-only full-corpus check rather
# than weigh down every clone.
#
# testdata/pcp-qa/ is a mirror: it is rebuilt from scratch on every run.
#
set -euo pipefail

cd "$(dirname "$0")/../.."
src=${1:-../shared/corpus/pcp-qa}
dest=testdata/pcp-qa
skip=" bigace_v2 pcp-free-tera chartqa1 20180416 "

[ -d "$src" ] || { echo "copy-corpus: no such directory: $src" >&2; exit 1; }

# Build beside the destination, then swap, so an interrupted copy never
# leaves a half-filled testdata/pcp-qa behind.
stage=$(mktemp -d testdata/.pcp-qa.XXXXXX)
trap 'rm -rf "$stage"' EXIT

n=0
for dir in "$src"/*/; do
    name=$(basename "$dir")
    case $skip in *" $name "*) continue ;; esac
    if [ ! -f "$dir/oracle.jsonl.gz" ]; then
        echo "copy-corpus: $name has no oracle.jsonl.gz, skipped" >&2
        continue
    fi
    cp -R "$dir" "$stage/$name"
    n=$((n + 1))
done

# The shared corpus is read-only; the copy must stay editable and removable.
chmod -R u+rwX,go+rX "$stage"
chmod 755 "$stage"

rm -rf "$dest"
mv "$stage" "$dest"
echo "copy-corpus: $n archives into $dest ($(du -sh "$dest" | cut -f1))" >&2
