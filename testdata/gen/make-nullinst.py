#!/usr/bin/python3
"""make-nullinst.py: write pmi-nullinst and pmi-nullinst-wide, archives of
singular metrics whose values carry instance ids other than PM_IN_NULL (-1),
as the IRIX pmlogger of 1995-1996 wrote them (upstream PCP's
qa/archives/bozo.client_v2 and 960624.08.17_v2): the id is whatever was left
in the value's slot, and it can change from one record to the next.

A singular metric has one value a record whatever its instance id says:
libpcp hands the id on as it is (pcp-dump.py prints it as "inst"), and a
Prometheus series of a singular metric has no instance label, so every value
of the metric is one series.

libpcp's pmi always writes PM_IN_NULL for a singular metric, so each archive
is written by pmi (v2, host pmi-irix, archive timezone UTC) and then the
instance id of each listed metric's value is overwritten in place in the data
volume, one 4-byte word a record (SCHEDULE below); nothing else changes, no
offset moves. The goldens are libpcp's reading of the patched archives.

  pmi-nullinst       (the shape of bozo.client_v2) 10 records 5 s apart: the
                     first logs test.ncpu alone; the other 9 add the metrics
                     below, so .meta grows at the second record. The U64
                     counter test.disk.total has id 0 in the second record
                     and 1 in the other 8; test.freemem has id 1 throughout.
  pmi-nullinst-wide  (the shape of 960624.08.17_v2) 11 records: 10 records
                     2 min apart of 11 singular counters (two U64), whose
                     ids cycle 0 131076 131075 131585 0 0 131076 131075 0 0;
                     the last record, 100 s after the tenth, logs 193 new
                     metrics (id 0), after .meta grew to hold them.

usage (from the repo root): /usr/bin/python3 testdata/gen/make-nullinst.py
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from pcp import pmi
from cpmapi import (PM_TYPE_U32, PM_TYPE_U64, PM_TYPE_FLOAT, PM_SEM_COUNTER,
                    PM_SEM_INSTANT, PM_SEM_DISCRETE, PM_INDOM_NULL)

DEST = "testdata/archives"
CYCLE = [0, 131076, 131075, 131585, 0, 0, 131076, 131075, 0, 0]
V2_LABEL = 132  # bytes of a v2 label record, the start of every file


def write_nullinst(base):
    """bozo.client_v2's shape. Returns {metric: [inst per record]}."""
    log = pmi.pmiLogImport(base)
    log.pmiSetHostname("pmi-irix")
    log.pmiSetTimezone("UTC")
    none = log.pmiUnits(0, 0, 0, 0, 0, 0)
    count = log.pmiUnits(0, 0, 1, 0, 0, 0)
    kbyte = log.pmiUnits(1, 0, 0, 1, 0, 0)
    msec = log.pmiUnits(0, 1, 0, 0, 2, 0)
    cpus = log.pmiInDom(1, 1)
    loads = log.pmiInDom(1, 5)
    log.pmiAddMetric("test.ncpu", log.pmiID(1, 18, 2), PM_TYPE_U32, PM_INDOM_NULL, PM_SEM_DISCRETE, none)
    log.pmiAddMetric("test.disk.total", log.pmiID(1, 82, 9), PM_TYPE_U64, PM_INDOM_NULL, PM_SEM_COUNTER, count)
    log.pmiAddMetric("test.cpu.user", log.pmiID(1, 28, 11), PM_TYPE_U32, cpus, PM_SEM_COUNTER, msec)
    log.pmiAddMetric("test.load", log.pmiID(1, 18, 3), PM_TYPE_FLOAT, loads, PM_SEM_INSTANT, none)
    log.pmiAddMetric("test.freemem", log.pmiID(1, 18, 1), PM_TYPE_U32, PM_INDOM_NULL, PM_SEM_INSTANT, kbyte)
    log.pmiAddInstance(cpus, "cpu0", 0)
    for i, n in ((1, "1 minute"), (5, "5 minute"), (15, "15 minute")):
        log.pmiAddInstance(loads, n, i)
    t0 = 792095225  # 1995-02-06T18:27:05Z
    log.pmiPutValue("test.ncpu", "", "1")
    log.pmiWrite(t0, 69038)
    for k in range(1, 10):
        log.pmiPutValue("test.disk.total", "", str(677360 + 7 * k * k))
        log.pmiPutValue("test.cpu.user", "cpu0", str(1623960 + 3 * k))
        log.pmiPutValue("test.load", "1 minute", str(0.25 + k / 64))
        log.pmiPutValue("test.load", "15 minute", str(0.1875 - k / 512))
        log.pmiPutValue("test.freemem", "", str(23080 + 16 * k))
        log.pmiWrite(t0 + 5 * k, 0)
    log.pmiEnd()
    return {"test.disk.total": [None] + [0] + [1] * 8,
            "test.freemem": [None] + [1] * 9,
            "test.ncpu": [0] + [None] * 9}


def write_nullinst_wide(base):
    """960624.08.17_v2's shape. Returns {metric: [inst per record]}."""
    log = pmi.pmiLogImport(base)
    log.pmiSetHostname("pmi-irix")
    log.pmiSetTimezone("UTC")
    count = log.pmiUnits(0, 0, 1, 0, 0, 0)
    msec = log.pmiUnits(0, 1, 0, 0, 2, 0)
    regular = ["test.cpu.idle", "test.cpu.intr", "test.cpu.sxbrk", "test.cpu.sys", "test.cpu.user",
               "test.cpu.wait", "test.pswitch", "test.swap.pagesin", "test.swap.pagesout"]
    for i, n in enumerate(regular):
        log.pmiAddMetric(n, log.pmiID(1, 10, i + 1), PM_TYPE_U32, PM_INDOM_NULL, PM_SEM_COUNTER,
                         msec if n.startswith("test.cpu") else count)
    log.pmiAddMetric("test.disk.read", log.pmiID(1, 82, 10), PM_TYPE_U64, PM_INDOM_NULL, PM_SEM_COUNTER, count)
    log.pmiAddMetric("test.disk.write", log.pmiID(1, 82, 11), PM_TYPE_U64, PM_INDOM_NULL, PM_SEM_COUNTER, count)
    once = ["test.net.stat%03d.count" % i for i in range(193)]
    for i, n in enumerate(once):
        log.pmiAddMetric(n, log.pmiID(1, 17, i + 1), PM_TYPE_U64 if i % 16 == 0 else PM_TYPE_U32,
                         PM_INDOM_NULL, PM_SEM_COUNTER, count)
    t0 = 835568626  # 1996-06-23T22:23:46Z
    for k in range(10):
        for i, n in enumerate(regular):
            log.pmiPutValue(n, "", str(2145455239 + 1000 * i + 37 * k * (i + 1)))
        log.pmiPutValue("test.disk.read", "", str(175725148004 + 3000 * k * k))
        log.pmiPutValue("test.disk.write", "", str(159819048 + 500 * k))
        log.pmiWrite(t0 + 120 * k, 349470)
    for i, n in enumerate(once):
        log.pmiPutValue(n, "", str(1000 * i + 7))
    log.pmiWrite(t0 + 120 * 9 + 100, 742099)
    log.pmiEnd()
    sched = {n: CYCLE + [None] for n in regular + ["test.disk.read", "test.disk.write"]}
    for n in once:
        sched[n] = [None] * 10 + [0]
    return sched


def pmids_of(base, names):
    """The PMID of each name, from libpcp's reading of the archive."""
    out = subprocess.run(["pminfo", "-a", base, "-m"] + names, check=True, stdout=subprocess.PIPE, text=True).stdout
    pmids = {}
    for line in out.splitlines():
        name, _, rest = line.partition(" PMID: ")
        d, c, i = (int(x) for x in rest.strip().split("."))
        pmids[d << 22 | c << 10 | i] = name.strip()
    return pmids


def patch_insts(vol, schedule, pmids):
    """Overwrites, in the v2 data volume vol, the instance id of the value of
    each scheduled metric in record k with schedule[name][k] (None: leave)."""
    with open(vol, "rb") as f:
        b = bytearray(f.read())
    off, k, patched = V2_LABEL, 0, 0
    while off < len(b):
        (n,) = struct.unpack_from(">I", b, off)
        (numpmid,) = struct.unpack_from(">i", b, off + 12)
        q = off + 16
        for _ in range(numpmid):
            pmid, numval = struct.unpack_from(">Ii", b, q)
            q += 8
            if numval <= 0:
                continue
            name = pmids.get(pmid)
            inst = schedule.get(name, [None] * (k + 1))[k] if name else None
            if inst is not None:
                if numval != 1:
                    sys.exit("%s: record %d: %d values of singular %s" % (vol, k, numval, name))
                (was,) = struct.unpack_from(">i", b, q + 4)
                if was != -1:
                    sys.exit("%s: record %d: %s has instance %d, not PM_IN_NULL" % (vol, k, name, was))
                struct.pack_into(">i", b, q + 4, inst)
                patched += 1
            q += 4 + 8 * numval
        off += n
        k += 1
    with open(vol, "wb") as f:
        f.write(b)
    want = sum(1 for s in schedule.values() for x in s if x is not None)
    if patched != want:
        sys.exit("%s: patched %d values, want %d" % (vol, patched, want))


def main():
    work = tempfile.mkdtemp(prefix="pcp-nullinst.", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        for name, write in (("pmi-nullinst", write_nullinst), ("pmi-nullinst-wide", write_nullinst_wide)):
            d = os.path.join(work, name)
            os.makedirs(d)
            base = os.path.join(d, name)
            schedule = write(base)
            patch_insts(base + ".0", schedule, pmids_of(base, sorted(schedule)))
            subprocess.run(["pmdumplog", "-a", base], check=True, stdout=subprocess.DEVNULL)
            dump = subprocess.run([sys.executable, "testdata/gen/pcp-dump.py", base], check=True,
                                  stdout=subprocess.PIPE).stdout
            with gzip.GzipFile(os.path.join(d, "oracle.jsonl.gz"), "wb", mtime=0) as g:
                g.write(dump)
            dst = os.path.join(DEST, name)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            shutil.move(d, dst)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
