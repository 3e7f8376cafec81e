#!/usr/bin/python3
"""make-nulnames.py: write v2-nulnames, a copy of v2-basic whose metric
names in .meta count NUL padding in their lengths, as some old writers did
(a 1997 IRIX pmlogger wrote `disk.dev.total` with five NULs in its length).
libpcp reads each name as a C string, so its golden names them without the
NULs; the copy's golden is made from the copy by pcp-dump.py (libpcp).

usage (from the repo root): /usr/bin/python3 testdata/gen/make-nulnames.py
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys

SRC = "testdata/archives/v2-basic/v2-basic"
DST_DIR = "testdata/archives/v2-nulnames"
DST = os.path.join(DST_DIR, "v2-nulnames")
TYPE_DESC = 1
PAD = 5  # NULs added to each name, counted in its length


def padded_meta(b):
    out = bytearray(b[:132])  # the v2 label record is 132 bytes
    off = 132
    while off < len(b):
        (n,) = struct.unpack_from(">I", b, off)
        rec = b[off:off + n]
        off += n
        (typ,) = struct.unpack_from(">I", rec, 4)
        if typ != TYPE_DESC or len(rec) <= 8 + 20 + 4:
            out += rec
            continue
        body = bytearray(rec[8:8 + 20])
        (nn,) = struct.unpack_from(">i", rec, 28)
        body += struct.pack(">i", nn)
        q = 32
        for _ in range(nn):
            (ln,) = struct.unpack_from(">I", rec, q)
            name = rec[q + 4:q + 4 + ln]
            q += 4 + ln
            body += struct.pack(">I", ln + PAD) + name + b"\0" * PAD
        total = 8 + len(body) + 4
        out += struct.pack(">II", total, typ) + body + struct.pack(">I", total)
    return bytes(out)


def main():
    if os.path.isdir(DST_DIR):
        shutil.rmtree(DST_DIR)
    os.makedirs(DST_DIR)
    for ext in (".0", ".index"):
        shutil.copyfile(SRC + ext, DST + ext)
    with open(SRC + ".meta", "rb") as f:
        meta = f.read()
    with open(DST + ".meta", "wb") as f:
        f.write(padded_meta(meta))
    subprocess.run(["pmdumplog", "-a", DST], check=True, stdout=subprocess.DEVNULL)
    dump = subprocess.run([sys.executable, "testdata/gen/pcp-dump.py", DST], check=True, stdout=subprocess.PIPE).stdout
    with gzip.GzipFile(os.path.join(DST_DIR, "oracle.jsonl.gz"), "wb", mtime=0) as g:
        g.write(dump)


if __name__ == "__main__":
    main()
