#!/usr/bin/python3
"""make-demo: write the bundled demo archive set (testdata/demo) with
libpcp's own archive writer (python3-pcp's pcp.pmi = libpcp_import).

usage: /usr/bin/python3 testdata/gen/make-demo.py [OUTDIR]   (default testdata/demo)

Two hosts, demo-web1 (v3 archives) and demo-db1 (v2 archives), each laid out
as pmlogger and pmlogger_daily leave /var/log/pcp/pmlogger/<host>/:

  20261118         merged daily archive, 00:00-23:59, with the <mark>
                   pmlogextract leaves where the 00:10 pmlogger re-exec was
  20261119         merged daily archive, 00:00-11:59 (same kind of mark);
                   the host is then shut down and rebooted (kernel update)
  20261119.12.30   pmlogger started after the reboot, 12:30 until the
                   00:10 daily roll; counters restart from boot values
  20261120.00.10   the "current" archive, left uncompressed

Older archives are compressed as pmlogger_daily does in PCP 6: data volume
and .meta with `xz -0 --block-size=10MiB`, .index left plain.  One
60-second sample per record, timezone UTC, every value deterministic from
SEED (the archive files still differ from run to run in the writer's PID
in their labels, which pmi takes from getpid()).

Afterwards each host directory is dumped through libpcp (pcp-dump.py on the
directory, i.e. one multi-archive context) into OUTDIR/<host>.oracle.jsonl.gz
and every archive is checked with pmdumplog and pmlogcheck.

Run it with /usr/bin/python3: the Debian python3-pcp module lives there, not
in any pyenv interpreter.
"""
import calendar
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile

from pcp import pmi
import cpmapi as c

SEED = 20261118
STEP = 60  # seconds between samples
HERE = os.path.dirname(os.path.abspath(__file__))


def utc(text):
    """'2026-11-18 00:10:00' -> seconds since the epoch (UTC)."""
    return calendar.timegm(tuple(int(x) for x in
                                 text.replace("-", " ").replace(":", " ").split())
                           + (0, 0, 0))


# --------------------------------------------------------------------------
# Metadata: names, PMIDs, types, semantics, units and instance domains as
# `pminfo -L -d -m` shows them for the Linux PMDA with PCP 6.0.3.

MSEC = (0, 1, 0, 0, c.PM_TIME_MSEC, 0)
KBYTE = (1, 0, 0, c.PM_SPACE_KBYTE, 0, 0)
BYTE = (1, 0, 0, c.PM_SPACE_BYTE, 0, 0)
COUNT = (0, 0, 1, 0, 0, c.PM_COUNT_ONE)
NONE = (0, 0, 0, 0, 0, 0)

# indom key -> (domain, serial, [(inst, name), ...]); instance numbers as the
# Linux PMDA assigns them (lo is found before eth0 in /proc/net/dev).
INDOMS = {
    "cpu": (60, 0, [(0, "cpu0"), (1, "cpu1")]),
    "disk": (60, 1, [(0, "sda"), (1, "sdb")]),
    "load": (60, 2, [(1, "1 minute"), (5, "5 minute"), (15, "15 minute")]),
    "net": (60, 3, [(0, "lo"), (1, "eth0")]),
}

U64, U32, FLOAT, STRING = (c.PM_TYPE_U64, c.PM_TYPE_U32, c.PM_TYPE_FLOAT,
                           c.PM_TYPE_STRING)
COUNTER, INSTANT, DISCRETE = (c.PM_SEM_COUNTER, c.PM_SEM_INSTANT,
                              c.PM_SEM_DISCRETE)

# name, (domain, cluster, item), type, indom key, semantics, units
METRICS = [
    ("kernel.all.load", (60, 2, 0), FLOAT, "load", INSTANT, NONE),
    ("kernel.all.cpu.user", (60, 0, 20), U64, None, COUNTER, MSEC),
    ("kernel.all.cpu.sys", (60, 0, 22), U64, None, COUNTER, MSEC),
    ("kernel.all.cpu.idle", (60, 0, 23), U64, None, COUNTER, MSEC),
    ("kernel.all.cpu.wait.total", (60, 0, 35), U64, None, COUNTER, MSEC),
    ("kernel.percpu.cpu.user", (60, 0, 0), U64, "cpu", COUNTER, MSEC),
    ("kernel.percpu.cpu.sys", (60, 0, 2), U64, "cpu", COUNTER, MSEC),
    ("kernel.percpu.cpu.idle", (60, 0, 3), U64, "cpu", COUNTER, MSEC),
    ("hinv.ncpu", (60, 0, 32), U32, None, DISCRETE, NONE),
    ("mem.physmem", (60, 1, 0), U64, None, DISCRETE, KBYTE),
    ("mem.util.used", (60, 1, 1), U64, None, INSTANT, KBYTE),
    ("mem.util.free", (60, 1, 2), U64, None, INSTANT, KBYTE),
    ("mem.util.cached", (60, 1, 5), U64, None, INSTANT, KBYTE),
    ("disk.dev.read", (60, 0, 4), U64, "disk", COUNTER, COUNT),
    ("disk.dev.write", (60, 0, 5), U64, "disk", COUNTER, COUNT),
    ("disk.dev.read_bytes", (60, 0, 38), U64, "disk", COUNTER, KBYTE),
    ("disk.dev.write_bytes", (60, 0, 39), U64, "disk", COUNTER, KBYTE),
    ("network.interface.in.bytes", (60, 3, 0), U64, "net", COUNTER, BYTE),
    ("network.interface.out.bytes", (60, 3, 8), U64, "net", COUNTER, BYTE),
    ("kernel.all.pswitch", (60, 0, 13), U64, None, COUNTER, COUNT),
    ("kernel.uname.release", (60, 12, 0), STRING, None, DISCRETE, NONE),
]

# --------------------------------------------------------------------------
# Timeline, the same for both hosts (the reboot was one maintenance window).
#
# A "run" is one pmlogger process: it samples every STEP seconds from its
# start (plus a few ms of fetch latency) until it stops.  pmlogger_daily
# sends SIGUSR2 at 00:10 and pmlogger re-execs into a new archive.

DAY0 = utc("2026-11-18 00:00:00")
SHUTDOWN = utc("2026-11-19 11:59:50")      # host goes down for a reboot
BOOT = utc("2026-11-19 12:29:05")          # kernel up again
END = utc("2026-11-20 07:00:00")           # "now" for the current archive

# name, first possible start (whole second), seconds of start-up jitter, stop
RUNS = [
    ("R0", utc("2026-11-17 00:10:00"), 3.0, utc("2026-11-18 00:10:00")),
    ("R1", utc("2026-11-18 00:10:00"), 3.0, utc("2026-11-19 00:10:00")),
    ("R2", utc("2026-11-19 00:10:00"), 3.0, SHUTDOWN),
    ("R3", utc("2026-11-19 12:30:00"), 40.0, utc("2026-11-20 00:10:00")),
    ("R4", utc("2026-11-20 00:10:00"), 3.0, END),
]

# archive name, [(run, from, to), ...]: consecutive pieces are separated by a
# <mark>, as pmlogextract (pmlogger_merge) writes one at the end of every
# input archive but the last; from/to clip the run to the 24 h window.
ARCHIVES = [
    ("20261118", [("R0", DAY0, None), ("R1", None, DAY0 + 86400)], True),
    ("20261119", [("R1", DAY0 + 86400, None), ("R2", None, None)], True),
    ("20261119.12.30", [("R3", None, None)], True),
    ("20261120.00.10", [("R4", None, None)], False),
]

# --------------------------------------------------------------------------
# Host profiles.  Rates are per second at activity 0 and 1 (the daily curve
# peaks at 1 around peak_hour UTC).

HOSTS = {
    "demo-web1": dict(
        version=3,              # PCP >= 6.2 writes v3 by default
        boot=utc("2026-11-06 04:17:33"),
        physmem=8141484,
        release=("6.12.48+deb13-amd64", "6.12.57+deb13-amd64"),
        peak_hour=15.0, floor=0.08,
        user=(0.015, 0.42), sys_ratio=0.32, wait=(0.002, 0.006),
        hidden=0.004,           # nice, irq, softirq, steal: not logged
        pswitch=(650, 9000),
        net={"eth0": ((9e3, 380e3), (15e3, 6.5e6)),   # (in, out) bytes/s
             "lo": ((3e3, 1.6e6), None)},             # lo: out == in
        disk={"sda": ((0.05, 0.25, 24), (1.8, 4.5, 12)),  # (r/s lo, hi, KB/op)
              "sdb": ((0.10, 3.5, 40), (0.2, 1.2, 16))},
        app=(1.45e6, 0.55e6), leak=1800,   # KB, KB, KB per hour of uptime
        cache=(380e3, 4.2e6, 30.0),         # KB at boot, KB asymptote, tau h
        spikes_per_day=3,
        backup=None,
    ),
    "demo-db1": dict(
        version=2,              # PCP 6.0.x (Debian 12) writes v2
        boot=utc("2026-10-28 02:51:09"),
        physmem=16375456,
        release=("6.1.0-40-amd64", "6.1.0-41-amd64"),
        peak_hour=14.5, floor=0.12,
        user=(0.01, 0.30), sys_ratio=0.40, wait=(0.004, 0.035),
        hidden=0.006,
        pswitch=(900, 14000),
        net={"eth0": ((20e3, 2.4e6), (12e3, 3.1e6)),
             "lo": ((1e3, 90e3), None)},
        disk={"sda": ((0.03, 0.15, 20), (1.2, 2.6, 10)),
              "sdb": ((2.0, 95.0, 16), (4.0, 140.0, 14))},
        app=(9.3e6, 0.45e6), leak=300,
        cache=(520e3, 5.1e6, 20.0),
        spikes_per_day=1,
        # nightly backup 02:00 UTC: reads sdb, ships it out over eth0
        backup=dict(start=2 * 3600, length=38 * 60, read_ops=720,
                    read_kb=128, out=62e6, user=0.22, wait=0.14, pswitch=3500),
    ),
}

# --------------------------------------------------------------------------


def sample_times(rng):
    """Start time (float seconds) of every run, pmlogger-style: the process
    starts a little after the whole second it was asked to."""
    starts = {}
    for name, start, jitter, _stop in RUNS:
        starts[name] = start + 0.2 + rng.random() * jitter
    return starts


def run_samples(name, start, stop, rng_jit, lo=None, hi=None):
    """Timestamps, in ns since the epoch, of a run's samples in [lo, hi)."""
    out = []
    k = 0
    while True:
        t = start + k * STEP
        if t >= stop:
            break
        k += 1
        if lo is not None and t < lo:
            continue
        if hi is not None and t >= hi:
            break
        # fetch latency 0.3-3 ms, not cumulative (pmlogger's timer does not
        # drift by the latency of each fetch)
        ns = int(round(t * 1e9)) + rng_jit.randrange(300000, 3000000)
        out.append(ns)
    return out


class Host:
    """The machine being logged: its workload, kernel counters and memory,
    advanced one sample at a time."""

    def __init__(self, name, prof, rng):
        self.name = name
        self.p = prof
        self.rng = rng
        self.noise = 0.0      # slow AR(1) workload noise (log factor)
        self.a_smooth = 0.3   # smoothed activity, for memory
        self.app_walk = 0.0   # KB, random walk of application memory
        self.spikes = []      # (start, end, factor) traffic surges
        self.boot(prof["boot"], fresh=False)

    # -- workload ---------------------------------------------------------

    def diurnal(self, t):
        h = ((t % 86400) / 3600.0 - self.p["peak_hour"]) * 2 * math.pi / 24
        shape = 0.5 * (1 + math.cos(h))           # 1 at peak, 0 at trough
        return self.p["floor"] + (1 - self.p["floor"]) * shape ** 1.6

    def plan_spikes(self, day_start):
        rng = self.rng
        for _ in range(self.p["spikes_per_day"]):
            s = day_start + rng.uniform(7, 22) * 3600
            self.spikes.append((s, s + rng.uniform(4, 22) * 60,
                                rng.uniform(1.4, 2.1)))

    def activity(self, t):
        a = self.diurnal(t) * math.exp(self.noise)
        for s, e, f in self.spikes:
            if s <= t < e:
                a *= f
        return a

    def backup(self, t):
        b = self.p["backup"]
        return b is not None and b["start"] <= t % 86400 < b["start"] + b["length"]

    # -- boot ---------------------------------------------------------------

    def boot(self, when, fresh):
        """Set the kernel's counters as of boot time `when`.  fresh=False
        means the demo starts long after this boot: fill the counters with
        the uptime's worth at average rates instead of zero."""
        rng, p = self.rng, self.p
        self.booted = when
        self.release = p["release"][1 if fresh else 0]
        self.cpu = [dict(user=0, sys=0, idle=0, wait=0) for _ in range(2)]
        self.disk = {d: dict(read=0, write=0, read_bytes=0, write_bytes=0)
                     for d in ("sda", "sdb")}
        self.net = {i: dict(inb=0, outb=0) for i in ("lo", "eth0")}
        self.pswitch = 0
        self.load = [0.0, 0.0, 0.0]
        self.last = when
        if not fresh:
            up = DAY0 - when - 300
            avg = 0.45
            for cpu in self.cpu:
                u = p["user"][0] + p["user"][1] * avg * rng.uniform(0.9, 1.1)
                s = u * p["sys_ratio"]
                w = p["wait"][0] + p["wait"][1] * avg
                for k, f in (("user", u), ("sys", s), ("wait", w)):
                    cpu[k] = 10 * int(up * 100 * f)
                cpu["idle"] = 10 * int(up * 100 * (1 - u - s - w - p["hidden"]))
            for d, (rd, wr) in p["disk"].items():
                for kind, (lo, hi, kb) in (("read", rd), ("write", wr)):
                    ops = int(up * (lo + hi * avg) * rng.uniform(0.9, 1.1))
                    self.disk[d][kind] = ops
                    self.disk[d][kind + "_bytes"] = 4 * int(ops * kb / 4)
            for i, (inr, outr) in p["net"].items():
                self.net[i]["inb"] = int(up * (inr[0] + inr[1] * avg) * rng.uniform(0.9, 1.1))
                self.net[i]["outb"] = (self.net[i]["inb"] if outr is None else
                                       int(up * (outr[0] + outr[1] * avg) * rng.uniform(0.9, 1.1)))
            self.pswitch = int(up * (p["pswitch"][0] + p["pswitch"][1] * avg))
            self.last = DAY0 - 300
            self.load = [0.4, 0.45, 0.5]
            self.a_smooth = self.diurnal(self.last)
        else:
            # The first ~minute after boot: systemd starts everything,
            # the page cache is cold, lots of reads from the root disk.
            for cpu in self.cpu:
                cpu["user"] = 10 * rng.randrange(1200, 2200)
                cpu["sys"] = 10 * rng.randrange(900, 1600)
                cpu["wait"] = 10 * rng.randrange(300, 900)
            for d, n in (("sda", rng.randrange(7000, 11000)),
                         ("sdb", rng.randrange(300, 900))):
                self.disk[d]["read"] = n
                self.disk[d]["read_bytes"] = 4 * int(n * 9)
                self.disk[d]["write"] = n // 9
                self.disk[d]["write_bytes"] = 4 * int(n // 9 * 3)
            self.net["eth0"]["inb"] = rng.randrange(150000, 400000)
            self.net["eth0"]["outb"] = rng.randrange(40000, 90000)
            self.net["lo"]["inb"] = self.net["lo"]["outb"] = rng.randrange(8000, 30000)
            self.pswitch = rng.randrange(60000, 110000)
            self.load = [0.0, 0.0, 0.0]
            self.a_smooth = 0.05
            self.app_walk = 0.0
            self.advance_load(2.2, 55)   # boot burst

    # -- one step -----------------------------------------------------------

    def advance_load(self, runnable, dt):
        for i, period in enumerate((60.0, 300.0, 900.0)):
            e = math.exp(-dt / period)
            self.load[i] = self.load[i] * e + runnable * (1 - e)

    def step(self, t):
        """Advance the counters from self.last to time t (seconds)."""
        rng, p = self.rng, self.p
        dt = t - self.last
        if dt <= 0:
            raise ValueError("time went backwards")
        mid = self.last + dt / 2
        self.noise = 0.88 * self.noise + rng.gauss(0, 0.05)
        a = self.activity(mid)
        bk = p["backup"] if self.backup(mid) else None
        # uptime < 20 min: services warming up, a little less traffic
        warm = min(1.0, 0.5 + (t - self.booted) / 2400.0)
        a *= warm

        # CPU, per CPU, in 10 ms jiffies (USER_HZ = 100)
        user = p["user"][0] + p["user"][1] * a + (bk["user"] if bk else 0)
        wait = p["wait"][0] + p["wait"][1] * a + (bk["wait"] if bk else 0)
        jiffies = int(round(dt * 100))
        share = min(0.75, max(0.25, rng.gauss(0.5, 0.06)))
        tot = dict(user=0, sys=0, wait=0)
        for n, cpu in enumerate(self.cpu):
            f = share if n == 0 else 1 - share
            u = min(0.93, 2 * f * user * math.exp(rng.gauss(0, 0.05)))
            s = min(0.97 - u, u * p["sys_ratio"] * math.exp(rng.gauss(0, 0.08)))
            w = min(0.99 - u - s, 2 * f * wait * math.exp(rng.gauss(0, 0.25)))
            ju, js, jw = (int(round(jiffies * x)) for x in (u, s, w))
            jh = int(round(jiffies * p["hidden"] * rng.uniform(0.5, 1.5)))
            ji = max(0, jiffies - ju - js - jw - jh)
            cpu["user"] += 10 * ju
            cpu["sys"] += 10 * js
            cpu["wait"] += 10 * jw
            cpu["idle"] += 10 * ji
            tot["user"] += u / 2
            tot["sys"] += s / 2
            tot["wait"] += w / 2

        # Load average: runnable + uninterruptible tasks
        runnable = (2 * (tot["user"] + tot["sys"]) * 1.15 + 2 * tot["wait"]
                    + max(0.0, rng.gauss(0.05, 0.08)))
        self.advance_load(runnable, dt)

        # Context switches
        self.pswitch += int(dt * (p["pswitch"][0] + p["pswitch"][1] * a
                                  + (bk["pswitch"] if bk else 0))
                            * math.exp(rng.gauss(0, 0.06)))

        # Disks: ops are Poisson-ish, bytes whole 4 KB pages
        cold = math.exp(-(t - self.booted) / 5400.0)   # cold cache after boot
        for d, (rd, wr) in p["disk"].items():
            for kind, (lo, hi, kb) in (("read", rd), ("write", wr)):
                rate = lo + hi * a
                if kind == "read":
                    rate *= 1 + 6 * cold
                if bk and d == "sdb" and kind == "read":
                    rate += bk["read_ops"]
                    kb = (kb * (lo + hi * a) + bk["read_kb"] * bk["read_ops"]) / rate
                mean = rate * dt
                ops = max(0, int(round(rng.gauss(mean, math.sqrt(mean) + 0.05 * mean))))
                size = kb * math.exp(rng.gauss(0, 0.15))
                self.disk[d][kind] += ops
                self.disk[d][kind + "_bytes"] += 4 * max(ops, int(round(ops * size / 4)))

        # Network
        for i, (inr, outr) in p["net"].items():
            b = self.net[i]
            ib = dt * (inr[0] + inr[1] * a) * math.exp(rng.gauss(0, 0.08))
            b["inb"] += int(ib)
            if outr is None:
                b["outb"] = b["inb"]          # loopback: every byte out comes in
            else:
                ob = dt * (outr[0] + outr[1] * a) * math.exp(rng.gauss(0, 0.08))
                if bk and i == "eth0":
                    ob += dt * bk["out"] * math.exp(rng.gauss(0, 0.05))
                b["outb"] += int(ob)

        self.last = t
        self.a_smooth += (a - self.a_smooth) * (1 - math.exp(-dt / 1800.0))

    def memory(self, t):
        """(used, free, cached) in KB, multiples of the 4 KB page."""
        p, rng = self.p, self.rng
        up_h = (t - self.booted) / 3600.0
        boot_kb, cap_kb, tau = p["cache"]
        warmth = 1 - math.exp(-up_h / tau)
        cached = boot_kb + (cap_kb - boot_kb) * warmth
        cached *= 0.94 + 0.06 * self.a_smooth     # churn with activity
        self.app_walk = 0.97 * self.app_walk + rng.gauss(0, 9000)
        app = (p["app"][0] * min(1.0, 0.55 + up_h * 4) + p["app"][1] * self.a_smooth
               + p["leak"] * up_h + self.app_walk)
        kernel = 210e3 + 60e3 * (1 - math.exp(-up_h / 8))  # buffers + slab
        used = app + cached + kernel
        physmem = p["physmem"]
        used = min(used, physmem * 0.97)
        free = 4 * int((physmem - used) / 4)
        return physmem - free, free, 4 * int(cached / 4)


# --------------------------------------------------------------------------


def fmt_load(x):
    return "%.2f" % x


def host_records(name, prof):
    """Yield (archive, [(ns, values) | "mark", ...]) for one host, where
    values maps (metric, instance name or None) -> string."""
    rng = random.Random("%d:%s" % (SEED, name))
    rng_jit = random.Random("%d:%s:jitter" % (SEED, name))
    starts = sample_times(rng)
    stops = {r[0]: r[3] for r in RUNS}
    host = Host(name, prof, rng)
    for d in range(-1, 4):
        host.plan_spikes(DAY0 + d * 86400)

    # every sample of every run, in time order, tagged with its run
    pieces = []
    for arch, parts, _compress in ARCHIVES:
        for run, lo, hi in parts:
            pieces.append((arch, run, run_samples(run, starts[run], stops[run],
                                                  rng_jit, lo, hi)))
    rebooted = False
    out = {}
    for arch, run, times in pieces:
        recs = out.setdefault(arch, [])
        if recs:
            recs.append("mark")
        for ns in times:
            t = ns / 1e9
            if t > BOOT and not rebooted:
                host.boot(BOOT, fresh=True)
                rebooted = True
            host.step(t)
            recs.append((ns, snapshot(host, t)))
    return out


def snapshot(h, t):
    v = {}
    for inst, val in zip(("1 minute", "5 minute", "15 minute"), h.load):
        v[("kernel.all.load", inst)] = fmt_load(val)
    for k in ("user", "sys", "idle", "wait"):
        name = "kernel.all.cpu." + ("wait.total" if k == "wait" else k)
        v[(name, None)] = str(sum(cpu[k] for cpu in h.cpu))
    for k in ("user", "sys", "idle"):
        for n, cpu in enumerate(h.cpu):
            v[("kernel.percpu.cpu." + k, "cpu%d" % n)] = str(cpu[k])
    v[("hinv.ncpu", None)] = "2"
    v[("mem.physmem", None)] = str(h.p["physmem"])
    used, free, cached = h.memory(t)
    v[("mem.util.used", None)] = str(used)
    v[("mem.util.free", None)] = str(free)
    v[("mem.util.cached", None)] = str(cached)
    for d in ("sda", "sdb"):
        for k in ("read", "write", "read_bytes", "write_bytes"):
            v[("disk.dev." + k, d)] = str(h.disk[d][k])
    for i in ("lo", "eth0"):
        v[("network.interface.in.bytes", i)] = str(h.net[i]["inb"])
        v[("network.interface.out.bytes", i)] = str(h.net[i]["outb"])
    v[("kernel.all.pswitch", None)] = str(h.pswitch)
    v[("kernel.uname.release", None)] = h.release
    return v


def write_archive(base, hostname, version, records):
    log = pmi.pmiLogImport(base)
    log.pmiSetVersion(version)
    log.pmiSetHostname(hostname)
    log.pmiSetTimezone("UTC")
    for key, (dom, serial, insts) in INDOMS.items():
        indom = log.pmiInDom(dom, serial)
        for inst, iname in insts:
            log.pmiAddInstance(indom, iname, inst)
    for name, (dom, cl, item), typ, ikey, sem, units in METRICS:
        indom = (log.pmiInDom(*INDOMS[ikey][:2]) if ikey else c.PM_INDOM_NULL)
        log.pmiAddMetric(name, log.pmiID(dom, cl, item), typ, indom, sem,
                         log.pmiUnits(*units))
    handles = {}
    for name, _pmid, _typ, ikey, _sem, _units in METRICS:
        for _inst, iname in (INDOMS[ikey][2] if ikey else [(None, None)]):
            handles[(name, iname)] = log.pmiGetHandle(name, iname)
    for rec in records:
        if rec == "mark":
            log.pmiPutMark()          # stamped last record + 1 ms by libpcp
            continue
        ns, values = rec
        for key, h in handles.items():
            log.pmiPutValueHandle(h, values[key])
        sec, nsec = divmod(ns, 1000000000)
        if version >= 3:
            log.pmiHighResWrite(sec, nsec)
        else:
            log.pmiWrite(sec, nsec // 1000)
    log.pmiEnd()
    del log


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        sys.exit(__doc__)
    outdir = sys.argv[1] if len(sys.argv) == 2 else os.path.join(HERE, "..", "demo")
    outdir = os.path.abspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="pcp-demo.", dir=outdir)
    try:
        for hostname, prof in HOSTS.items():
            hdir = os.path.join(scratch, hostname)
            os.makedirs(hdir)
            for arch, records in host_records(hostname, prof).items():
                base = os.path.join(hdir, arch)
                write_archive(base, hostname, prof["version"], records)
                compress = dict((a, z) for a, _p, z in ARCHIVES)[arch]
                if compress:
                    # as pmlogger_daily in PCP 6: volumes and .meta, not .index
                    run(["xz", "-0", "--block-size=10MiB", base + ".0", base + ".meta"])
                run(["pmlogcheck", base], stdout=subprocess.DEVNULL)
                run(["pmdumplog", "-a", base], stdout=subprocess.DEVNULL)
            # golden: the whole directory as one libpcp multi-archive context
            with open(os.path.join(scratch, hostname + ".oracle.jsonl.gz"), "wb") as f:
                dump = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "pcp-dump.py"), hdir],
                                        stdout=subprocess.PIPE)
                run(["gzip", "-9n"], stdin=dump.stdout, stdout=f)
                dump.stdout.close()
                if dump.wait() != 0:
                    raise SystemExit("pcp-dump.py failed on " + hdir)
        # all made and checked: replace the old set
        for hostname in HOSTS:
            for n in (hostname, hostname + ".oracle.jsonl.gz"):
                dst = os.path.join(outdir, n)
                if os.path.isdir(dst):
                    shutil.rmtree(dst)
                elif os.path.exists(dst):
                    os.remove(dst)
                os.rename(os.path.join(scratch, n), dst)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
