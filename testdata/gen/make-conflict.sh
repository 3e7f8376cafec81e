#!/usr/bin/env bash
# Makes testdata/conflict/units-change: the two pmlogger runs of
# archives/v2-merged split back into two archives with pmlogextract, the
# second rewritten by pmlogrewrite so that kernel.all.load changes units.
# libpcp refuses such a set (PM_ERR_LOGCHANGEUNITS); pcp-remote-read serves
# it, leaving out the second archive's kernel.all.load. Run from the repo root.
set -euo pipefail
src=testdata/archives/v2-merged/v2-merged
out=testdata/conflict/units-change
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The runs are split at the <mark> between them.
pmdumplog "$src" > "$tmp/dump"
mark=$(awk '/<mark>/ {print $1; exit}' "$tmp/dump")
pmlogextract -T "@$mark" "$src" "$tmp/first"
# The second half starts at the next run's first record.
second=$(awk 'found && /^[0-9]/ {print $1; exit} /<mark>/ {found=1}' "$tmp/dump")
pmlogextract -S "@$second" "$src" "$tmp/second0"
echo 'metric kernel.all.load { units -> 1,0,0,KBYTE,0,0 }' > "$tmp/rules"
/usr/lib/pcp/bin/pmlogrewrite -c "$tmp/rules" "$tmp/second0" "$tmp/second"
rm -rf "$out" && mkdir -p "$out"
cp "$tmp"/first.* "$tmp"/second.[0-9]* "$tmp"/second.meta "$tmp"/second.index "$out"/
ls -l "$out"
# libpcp reads each archive alone; the test expects the first's values of
# kernel.all.load and both archives' values of everything else.
for x in first second; do
	/usr/bin/python3 testdata/gen/pcp-dump.py "$out/$x" | gzip -9n > "$out/$x.oracle.jsonl.gz"
done
