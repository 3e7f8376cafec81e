#!/usr/bin/python3
"""make-scale: write the archive set of the multiarchive scale benchmarks
(multiarchive/scale_bench_test.go) with libpcp's own archive writer
(python3-pcp's pcp.pmi = libpcp_import, PCP 6.0.3).

usage: /usr/bin/python3 testdata/gen/make-scale.py OUTDIR
           [--archives N] [--hosts H] [--seed S] [--version 2|3] [--force]

OUTDIR/<host>/ gets N/H small archives per host, laid out and named as
pmlogger leaves them (YYYYMMDD.HH.MM.{0,meta,index}): archive k of a host
starts k * 5 minutes after 2026-10-01 00:00 UTC (plus 0-9 s, as pmlogger
starts a few seconds after its minute) and holds 10-30 records 10 s apart,
so a host's archives have consecutive, non-overlapping time ranges with a
gap between each two (a <mark> boundary).  Each record holds 5 metrics
(8 values): kernel.all.load (3 instances), kernel.all.cpu.user (counter),
mem.util.used, kernel.all.nprocs and network.interface.in.bytes (2
instances), with the PMIDs, types and units of the Linux PMDA.

Every value and every record count is a function of --seed; the files still
differ from run to run in the writer's PID in their labels (pmi takes it
from getpid()).  One pmiLogImport context is written per archive: about
0.4 ms each, so the default 10,000 take a few seconds and no cloning with
pmlogrewrite/pmlogextract is needed.

The set is built in a scratch directory beside OUTDIR and renamed into place
when complete, with OUTDIR/MANIFEST recording the parameters.  When OUTDIR
already has a MANIFEST with the same parameters nothing is done (the
benchmarks call this before every run), unless --force.  A sample of the
archives (first, last and 8 seeded picks) is checked with pmlogcheck and
pmdumplog -a.

Run it with /usr/bin/python3: the Debian python3-pcp module lives there, not
in any pyenv interpreter.
"""
import argparse
import calendar
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from pcp import pmi
import cpmapi as c

DAY0 = calendar.timegm((2026, 10, 1, 0, 0, 0, 0, 0, 0))
SLOT = 300        # seconds between archive starts (pmlogger-like names need distinct minutes)
STEP = 10         # seconds between records
MIN_RECORDS, MAX_RECORDS = 10, 30   # 9 + 29 * 10 = 299 s < SLOT: never overlapping

KBYTE = (1, 0, 0, c.PM_SPACE_KBYTE, 0, 0)
BYTE = (1, 0, 0, c.PM_SPACE_BYTE, 0, 0)
MSEC = (0, 1, 0, 0, c.PM_TIME_MSEC, 0)
NONE = (0, 0, 0, 0, 0, 0)

INDOMS = {
    "load": (60, 2, [(1, "1 minute"), (5, "5 minute"), (15, "15 minute")]),
    "net": (60, 3, [(0, "lo"), (1, "eth0")]),
}

# name, (domain, cluster, item), type, indom key, semantics, units
METRICS = [
    ("kernel.all.load", (60, 2, 0), c.PM_TYPE_FLOAT, "load", c.PM_SEM_INSTANT, NONE),
    ("kernel.all.cpu.user", (60, 0, 20), c.PM_TYPE_U64, None, c.PM_SEM_COUNTER, MSEC),
    ("mem.util.used", (60, 1, 2), c.PM_TYPE_U64, None, c.PM_SEM_INSTANT, KBYTE),
    ("kernel.all.nprocs", (60, 2, 2), c.PM_TYPE_U32, None, c.PM_SEM_INSTANT, NONE),
    ("network.interface.in.bytes", (60, 3, 0), c.PM_TYPE_U64, "net", c.PM_SEM_COUNTER, BYTE),
]


class Host:
    """A small random walk: gauges wander, counters only go up, across the
    host's archives as if one machine were logged all along."""

    def __init__(self, rng):
        self.rng = rng
        self.load = [0.5, 0.5, 0.5]
        self.cpu = rng.randrange(10**6, 10**8)
        self.mem = rng.randrange(2 * 10**6, 6 * 10**6)
        self.nprocs = rng.randrange(150, 300)
        self.net = [rng.randrange(10**6, 10**9), rng.randrange(10**6, 10**9)]

    def step(self):
        r = self.rng
        for i, w in enumerate((0.3, 0.1, 0.03)):
            self.load[i] = max(0.0, self.load[i] + w * (r.gauss(0.5, 0.4) - self.load[i]))
        self.cpu += STEP * r.randrange(100, 1500)
        self.mem = max(10**6, self.mem + 4 * r.randrange(-2000, 2000))
        self.nprocs = max(50, self.nprocs + r.randrange(-3, 4))
        self.net[0] += STEP * r.randrange(100, 2000)
        self.net[1] += STEP * r.randrange(1000, 200000)
        return {
            ("kernel.all.load", "1 minute"): "%.2f" % self.load[0],
            ("kernel.all.load", "5 minute"): "%.2f" % self.load[1],
            ("kernel.all.load", "15 minute"): "%.2f" % self.load[2],
            ("kernel.all.cpu.user", None): str(self.cpu),
            ("mem.util.used", None): str(self.mem),
            ("kernel.all.nprocs", None): str(self.nprocs),
            ("network.interface.in.bytes", "lo"): str(self.net[0]),
            ("network.interface.in.bytes", "eth0"): str(self.net[1]),
        }


def write_archive(base, hostname, version, start, nrec, host):
    log = pmi.pmiLogImport(base)
    log.pmiSetVersion(version)
    log.pmiSetHostname(hostname)
    log.pmiSetTimezone("UTC")
    for dom, serial, insts in INDOMS.values():
        indom = log.pmiInDom(dom, serial)
        for inst, iname in insts:
            log.pmiAddInstance(indom, iname, inst)
    handles = []
    for name, (dom, cl, item), typ, ikey, sem, units in METRICS:
        indom = log.pmiInDom(*INDOMS[ikey][:2]) if ikey else c.PM_INDOM_NULL
        log.pmiAddMetric(name, log.pmiID(dom, cl, item), typ, indom, sem, log.pmiUnits(*units))
        for _inst, iname in (INDOMS[ikey][2] if ikey else [(None, None)]):
            handles.append(((name, iname), log.pmiGetHandle(name, iname or "")))
    for r in range(nrec):
        values = host.step()
        for key, h in handles:
            log.pmiPutValueHandle(h, values[key])
        t = start + r * STEP
        if version >= 3:
            log.pmiHighResWrite(t, 0)
        else:
            log.pmiWrite(t, 0)
    log.pmiEnd()
    del log


def archive_name(t):
    return time.strftime("%Y%m%d.%H.%M", time.gmtime(t))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--archives", type=int, default=10000)
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--version", type=int, default=3, choices=(2, 3))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    if args.archives < 1 or args.hosts < 1 or args.hosts > args.archives:
        sys.exit("make-scale: need 1 <= hosts <= archives")

    outdir = os.path.abspath(args.outdir)
    params = dict(archives=args.archives, hosts=args.hosts, seed=args.seed,
                  version=args.version, generator="make-scale.py/1")
    manifest = os.path.join(outdir, "MANIFEST")
    if not args.force and os.path.exists(manifest):
        with open(manifest) as f:
            have = json.load(f)
        if all(have.get(k) == v for k, v in params.items()):
            print("make-scale: %s is present (%d archives), reused" % (outdir, args.archives))
            return
        sys.exit("make-scale: %s holds a different set (%s); remove it or use --force"
                 % (outdir, {k: have.get(k) for k in params}))

    parent = os.path.dirname(outdir)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".make-scale.", dir=parent)
    try:
        t0 = time.time()
        records = 0
        written = []
        for h in range(args.hosts):
            hostname = "scale-host%d" % h
            rng = random.Random("%d:%s" % (args.seed, hostname))
            host = Host(rng)
            hdir = os.path.join(scratch, hostname)
            os.makedirs(hdir)
            n = args.archives // args.hosts + (1 if h < args.archives % args.hosts else 0)
            for k in range(n):
                start = DAY0 + k * SLOT + rng.randrange(0, 10)
                nrec = rng.randrange(MIN_RECORDS, MAX_RECORDS + 1)
                base = os.path.join(hdir, archive_name(start))
                write_archive(base, hostname, args.version, start, nrec, host)
                records += nrec
                written.append(base)
        took = time.time() - t0

        pick = random.Random(args.seed)
        sample = [written[0], written[-1]] + pick.sample(written, min(8, len(written)))
        for base in sample:
            subprocess.run(["pmlogcheck", base], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["pmdumplog", "-a", base], check=True, stdout=subprocess.DEVNULL)

        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(scratch) for f in fs)
        params.update(records=records, bytes=size, seconds=round(took, 1))
        with open(os.path.join(scratch, "MANIFEST"), "w") as f:
            json.dump(params, f, indent=1, sort_keys=True)
            f.write("\n")
        if os.path.exists(outdir):
            shutil.rmtree(outdir)
        os.rename(scratch, outdir)
        print("make-scale: wrote %d archives (%d records, %.1f MB) in %.1f s to %s"
              % (args.archives, records, size / 1e6, took, outdir))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
