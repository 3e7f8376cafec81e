#!/usr/bin/python3
"""pcp-dump: write every raw value of a PCP archive as JSON lines, as libpcp
itself decodes it.  These lines are the golden files our Go reader is tested
against, so libpcp (python3-pcp) is the single source of truth here.

usage: /usr/bin/python3 testdata/gen/pcp-dump.py ARCHIVE[,ARCHIVE...|DIR]

Output, one JSON object per line:
  {"t": NS, "name": ..., "pmid": "60.2.0", "type": "FLOAT", "sem": "instant",
   "units": ..., "indom": "60.2" | null, "inst": N | -1, "iname": ... | null,
   "v": number | string}                      one per value
  {"t": NS, "mark": true}                     one per <mark> record
  {"end": true, "records": N, "values": M}    last line
Aggregate and event values carry "v": null, "skipped": "<TYPE>".

The format is byte-for-byte that of /work/shared/tools/pcp-oracle, so the
same Go test code can compare against either.  Consequences worth knowing:
  * keys are in the order above and json.dumps' default separators are used;
  * NaN/Inf are printed as bare NaN/Infinity (json.dumps default), which is
    not strict JSON;
  * a STRING that is not valid UTF-8 comes out as Python's repr of the bytes
    ("b'...'"), because that is what pmAtomValue.dref() returns;
  * FLOAT values are widened to double before printing (c_float -> float).

Run it with /usr/bin/python3: the Debian python3-pcp module lives there, not
in any pyenv interpreter.
"""
import json
import signal
import sys

from pcp import pmapi
import cpmapi as c

TYPE_NAMES = {
    c.PM_TYPE_32: "32", c.PM_TYPE_U32: "U32",
    c.PM_TYPE_64: "64", c.PM_TYPE_U64: "U64",
    c.PM_TYPE_FLOAT: "FLOAT", c.PM_TYPE_DOUBLE: "DOUBLE",
    c.PM_TYPE_STRING: "STRING",
    c.PM_TYPE_AGGREGATE: "AGGREGATE",
    c.PM_TYPE_AGGREGATE_STATIC: "AGGREGATE_STATIC",
    c.PM_TYPE_EVENT: "EVENT", c.PM_TYPE_HIGHRES_EVENT: "HIGHRES_EVENT",
}
SEM_NAMES = {c.PM_SEM_COUNTER: "counter", c.PM_SEM_INSTANT: "instant",
             c.PM_SEM_DISCRETE: "discrete"}
# Values of these types are opaque blobs (or nested event records); the Go
# server does not export them, so the golden only records that they exist.
OPAQUE_TYPES = (c.PM_TYPE_AGGREGATE, c.PM_TYPE_AGGREGATE_STATIC,
                c.PM_TYPE_EVENT, c.PM_TYPE_HIGHRES_EVENT)


def indom_str(indom):
    # pmInDomStr() would do, but spelling out the domain/serial split keeps
    # the text independent of any libpcp formatting change.
    if indom == c.PM_INDOM_NULL:
        return None
    return "%d.%d" % ((indom >> 22) & 0x1ff, indom & 0x3fffff)


class Dumper:
    """Caches per-archive metadata so each PMID/instance is looked up once."""

    def __init__(self, source):
        self.ctx = pmapi.pmContext(c.PM_CONTEXT_ARCHIVE, source)
        self.metric = {}  # pmid -> (desc, fields common to all its values)
        self.inames = {}  # (indom, inst) -> external instance name or None
        self.records = 0
        self.values = 0

    def metric_info(self, pmid):
        info = self.metric.get(pmid)
        if info is None:
            ctx = self.ctx
            desc = ctx.pmLookupDesc(pmid)
            try:
                # pmNameID gives the first name when a PMID has several
                # (e.g. after pmlogrewrite renames); PMNS-less PMIDs get null.
                name = ctx.pmNameID(pmid)
            except pmapi.pmErr:
                name = None
            d = desc.contents
            common = {"name": name,
                      "pmid": ctx.pmIDStr(pmid),
                      "type": TYPE_NAMES.get(d.type, str(d.type)),
                      "sem": SEM_NAMES.get(d.sem, str(d.sem)),
                      "units": ctx.pmUnitsStr(d.units),
                      "indom": indom_str(d.indom)}
            info = self.metric[pmid] = (desc, common)
        return info

    def instance_name(self, desc, inst):
        # pmNameInDomArchive searches the whole indom history regardless of
        # the current time, so one lookup per (indom, inst) is exact.
        key = (desc.contents.indom, inst)
        if key not in self.inames:
            try:
                self.inames[key] = self.ctx.pmNameInDomArchive(desc, inst)
            except pmapi.pmErr:
                self.inames[key] = None
        return self.inames[key]

    def emit_result(self, result, write):
        r = result.contents
        ts = r.timestamp
        t = ts.tv_sec * 1000000000 + ts.tv_nsec
        if r.numpmid == 0:
            # A record with no metrics is a <mark> (doc section 7).
            write(json.dumps({"t": t, "mark": True}) + "\n")
            return
        for i in range(r.numpmid):
            vset = r.get_vset(i).contents
            if vset.numval <= 0:
                # numval < 0 is a per-metric error code, 0 is "no values";
                # neither yields a sample.
                continue
            desc, common = self.metric_info(vset.pmid)
            dtype = desc.contents.type
            has_indom = desc.contents.indom != c.PM_INDOM_NULL
            for j in range(vset.numval):
                val = r.get_vlist(i, j)
                line = {"t": t}
                line.update(common)
                line["inst"] = val.inst
                line["iname"] = (self.instance_name(desc, val.inst)
                                 if has_indom else None)
                if dtype in OPAQUE_TYPES:
                    line["v"] = None
                    line["skipped"] = line["type"]
                else:
                    atom = self.ctx.pmExtractValue(vset.valfmt, val,
                                                   dtype, dtype)
                    line["v"] = atom.dref(dtype)
                write(json.dumps(line) + "\n")
                self.values += 1

    def run(self, out):
        write = out.write
        ctx = self.ctx
        while True:
            try:
                # Raw records in archive order: no interpolation, and
                # nanosecond timestamps for v3 archives.
                result = ctx.pmFetchHighResArchive()
            except pmapi.pmErr as err:
                if err.args[0] == c.PM_ERR_EOL:
                    break
                raise
            self.records += 1
            try:
                self.emit_result(result, write)
            finally:
                ctx.pmFreeHighResResult(result)
        write(json.dumps({"end": True, "records": self.records,
                          "values": self.values}) + "\n")


def main():
    # Let `| head` end us quietly instead of with a BrokenPipeError trace.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    Dumper(sys.argv[1]).run(sys.stdout)


if __name__ == "__main__":
    main()
