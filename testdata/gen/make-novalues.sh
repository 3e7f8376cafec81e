#!/usr/bin/env bash
#
# make-novalues.sh: record the two archives of metrics and instances that
# have no values, for the rule that series and label lookups list only what
# has a value in the window (README, "How PCP maps to Prometheus").
#
#   archives/v2-novalues  pmlogger logging mem.util.highFree and highTotal,
#                         which a kernel without highmem never gives a value:
#                         pmlogger writes their descriptors all the same.
#   archives/pmi-novalues libpcp's pmi: an instance domain of three instances,
#                         one never with a value, one only in the second half;
#                         a singular metric only in the first three records.
#
# usage (from the repo root, with pmcd answering on 127.0.0.1):
#   bash testdata/gen/make-novalues.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
gen=testdata/gen
dest=testdata/archives
python=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/pcp-novalues.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/v2-novalues" "$work/pmi-novalues"
cat >"$work/config" <<'CFG'
log mandatory on every 1 second {
	kernel.all.load
	hinv.ncpu
	mem.util.highFree
	mem.util.highTotal
}
CFG
pmlogger -h 127.0.0.1 -c "$work/config" -t 1s -T 4s -l "$work/pmlogger.log" "$work/v2-novalues/v2-novalues"

"$python" - "$work/pmi-novalues/pmi-novalues" <<'PY'
import sys
from pcp import pmi
from cpmapi import PM_TYPE_U32, PM_TYPE_DOUBLE, PM_SEM_INSTANT, PM_INDOM_NULL
log = pmi.pmiLogImport(sys.argv[1])
log.pmiSetHostname("pmi-host")
log.pmiSetTimezone("UTC")
indom = log.pmiInDom(245, 1)
none = log.pmiUnits(0, 0, 0, 0, 0, 0)
log.pmiAddMetric("test.withvalues", log.pmiID(245, 0, 1), PM_TYPE_DOUBLE, indom, PM_SEM_INSTANT, none)
log.pmiAddMetric("test.single", log.pmiID(245, 0, 3), PM_TYPE_U32, PM_INDOM_NULL, PM_SEM_INSTANT, none)
for i, n in enumerate(["a", "b", "unused"]):
    log.pmiAddInstance(indom, n, i)
t0 = 1795046400  # 2026-11-19T00:00:00Z
for k in range(10):
    log.pmiPutValue("test.withvalues", "a", str(k))
    if k >= 5:
        log.pmiPutValue("test.withvalues", "b", str(k * 10))
    if k < 3:
        log.pmiPutValue("test.single", "", str(k))
    log.pmiWrite(t0 + k * 10, 0)
PY

for name in v2-novalues pmi-novalues; do
    pmdumplog -a "$work/$name/$name" >/dev/null
    "$python" "$gen/pcp-dump.py" "$work/$name/$name" | gzip -9n >"$work/$name/oracle.jsonl.gz"
    rm -rf "${dest:?}/$name"
    mv "$work/$name" "$dest/$name"
done
