#!/usr/bin/env bash
#
# make-testdata.sh: record small, real PCP archives with pmlogger and write a
# libpcp-made golden (oracle.jsonl.gz) next to each one.
#
# usage (from the repo root):  bash testdata/gen/make-testdata.sh
#
# Needs PCP (pmcd, pmlogger, pmlogextract, pmdumplog, pmlogcheck), xz, zstd,
# gzip, bzip2, and python3-pcp under /usr/bin/python3; made with PCP 6.0.3.  If pmcd is not answering it is
# started here (loopback only) and stopped again on exit.
#
# Idempotent: everything is built in a scratch directory first and only then
# swapped into testdata/archives/<name>, so a failed run leaves the previous
# archives intact.  The archives hold live measurements of this machine, so a
# rerun produces different (but equally valid) bytes and goldens.
#
# Environment:
#   PCP_ORACLE  independent libpcp dumper to cross-check every golden against
#               (default ../shared/tools/pcp-oracle; skipped if absent).
#
set -euo pipefail

cd "$(dirname "$0")/../.."
gen=testdata/gen
dest=testdata/archives
python=/usr/bin/python3          # python3-pcp is only installed for it
oracle=${PCP_ORACLE:-../shared/tools/pcp-oracle}
config=$gen/pmlogger.config
duration=20                      # seconds per recording, at 1 s per sample

# pcp.env predates `set -u`; it gives us PCP_BINADM_DIR, PCP_VAR_DIR, ...
set +u
# shellcheck disable=SC1091
. /etc/pcp.env
set -u

work=$(mktemp -d "${TMPDIR:-/tmp}/pcp-testdata.XXXXXX")
pmcd_pid=

cleanup() {
    if [ -n "$pmcd_pid" ]; then
        kill "$pmcd_pid" 2>/dev/null || true
        wait "$pmcd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

die() { echo "make-testdata: $*" >&2; exit 1; }

# Without systemd nobody starts pmcd for us.  Bind it to loopback only; the
# default local: connection (a Unix socket) is all pmlogger needs.
start_pmcd_if_needed() {
    if pminfo pmcd.version >/dev/null 2>&1; then
        return
    fi
    echo "make-testdata: starting pmcd" >&2
    # A fresh install has no merged PMNS until Rebuild runs, and pmcd
    # refuses to start without one.  Rebuild writes `root` into the current
    # directory, so it must run inside the pmns directory.
    if [ ! -f "$PCP_VAR_DIR/pmns/root" ]; then
        (cd "$PCP_VAR_DIR/pmns" && ./Rebuild -u)
    fi
    [ -f "$PCP_VAR_DIR/pmns/root" ] || die "no PMNS after Rebuild -u"
    mkdir -p "$PCP_RUN_DIR"
    # Each PMDA writes <name>.log into pmcd's working directory (the rc
    # scripts cd to $PCP_LOG_DIR/pmcd first); keep them out of the repo.
    (cd "$work" && exec "$PCP_BINADM_DIR/pmcd" -f -i 127.0.0.1 -l pmcd.log) &
    pmcd_pid=$!
    if ! "$PCP_BINADM_DIR/pmcd_wait" -t 30sec; then
        cat "$work/pmcd.log" >&2
        die "pmcd did not come up"
    fi
}

# record NAME VERSION SECONDS [pmlogger options...]
# Writes $work/NAME/NAME.{0,...,meta,index}.
record() {
    local name=$1 version=$2 secs=$3
    shift 3
    mkdir -p "$work/$name"
    if ! pmlogger -c "$config" -t 1s -T "${secs}s" -V "$version" \
            -l "$work/$name.log" "$@" "$work/$name/$name"; then
        cat "$work/$name.log" >&2
        die "pmlogger failed for $name"
    fi
}

# Every archive must be readable by libpcp's own tools before we trust the
# golden made from it.
check_archive() {
    local base=$1
    pmdumplog -a "$base" >/dev/null || die "pmdumplog rejects $base"
    pmlogcheck "$base" >/dev/null || die "pmlogcheck rejects $base"
}

# golden NAME: dump $work/NAME/NAME to $work/NAME/oracle.jsonl.gz, and make
# sure the independent oracle (if we have it) reads the archive identically.
golden() {
    local name=$1 base=$work/$1/$1
    "$python" "$gen/pcp-dump.py" "$base" >"$work/$name.jsonl"
    if [ -x "$oracle" ]; then
        "$oracle" "$base" >"$work/$name.oracle.jsonl"
        cmp -s "$work/$name.jsonl" "$work/$name.oracle.jsonl" ||
            die "$name: pcp-dump.py and $oracle disagree"
    fi
    gzip -9n <"$work/$name.jsonl" >"$work/$name/oracle.jsonl.gz"
}

# compressed_copy SRC DST COMPRESSOR...
# Copies archive SRC as DST and compresses its data volumes and .meta the way
# pmlogger_daily does; .index stays plain (doc section 9).  Renaming is safe:
# no archive file records its own base name.  If libpcp cannot read the
# result, the golden is taken from the uncompressed original instead.
compressed_copy() {
    local src=$1 dst=$2 f
    shift 2
    mkdir -p "$work/$dst"
    for f in "$work/$src/$src".*; do
        cp -p "$f" "$work/$dst/$dst.${f##*/"$src".}"
    done
    for f in "$work/$dst/$dst".[0-9]* "$work/$dst/$dst.meta"; do
        "$@" "$f"
    done
    if pmdumplog -a "$work/$dst/$dst" >/dev/null 2>&1; then
        check_archive "$work/$dst/$dst"
        golden "$dst"
        cmp -s "$work/$dst.jsonl" "$work/$src.jsonl" ||
            die "$dst decodes differently from $src"
    else
        echo "make-testdata: WARNING: libpcp cannot read $dst;" \
             "its golden is that of $src" >&2
        cp -p "$work/$src/oracle.jsonl.gz" "$work/$dst/oracle.jsonl.gz"
    fi
}

# merged VERSION: two pmlogger runs with a gap between them, joined by
# pmlogextract as pmlogger_daily would join a day's restarts.
merged() {
    local v=$1 name=v$1-merged
    mkdir -p "$work/$name"
    pmlogextract -m -V "$v" "$work/v$v-run1/v$v-run1" "$work/v$v-run2/v$v-run2" \
        "$work/$name/$name"
    # Not grep -q: its early exit would SIGPIPE pmdumplog and trip pipefail.
    pmdumplog "$work/$name/$name" | grep '<mark>' >/dev/null ||
        die "$name has no <mark> record"
}

start_pmcd_if_needed
echo "make-testdata: PCP $(pminfo -f pmcd.version | sed -n 's/.*value "\(.*\)"/\1/p')," \
     "recording for about $duration s" >&2

# The four plain recordings run side by side; they share nothing but pmcd.
pids=()
record v2-basic    2 "$duration" & pids+=($!)
record v3-basic    3 "$duration" & pids+=($!)
# A time-based volume switch gives 4-5 volumes in 20 s, the last one short.
record v2-multivol 2 "$duration" -v 5s & pids+=($!)
record v3-multivol 3 "$duration" -v 5s & pids+=($!)
# Meanwhile, two short runs a few seconds apart for the merged archives.
record v2-run1 2 6 & pids+=($!)
record v3-run1 3 6 & pids+=($!)
sleep 9
record v2-run2 2 6 & pids+=($!)
record v3-run2 3 6 & pids+=($!)
# Plain `wait` would ignore a failed recording; waiting on each pid does not.
for pid in "${pids[@]}"; do
    wait "$pid"
done
# Both runs talk to the same pmcd, so their epilogue/prologue records say
# "no discontinuity" and pmlogextract would drop the <mark>; -m keeps it, as
# after a real pmcd restart.
merged 2
merged 3

plain=(v2-basic v3-basic v2-multivol v3-multivol v2-merged v3-merged)
for name in "${plain[@]}"; do
    check_archive "$work/$name/$name"
    golden "$name"
done

# What pmlogger_daily leaves behind in PCP 6 (xz), what PCP 7's pmlogcompress
# uses for big files (zstd; libpcp 6.0.3 cannot read it), and the older
# gzip/bzip2, which libpcp inflates to a temp file on open.
compressed_copy v2-multivol v2-xz  xz -0 --block-size=10MiB
compressed_copy v3-multivol v3-xz  xz -0 --block-size=10MiB
compressed_copy v3-multivol v3-zst zstd -q --rm
compressed_copy v2-multivol v2-gz  gzip -9n
compressed_copy v2-multivol v2-bz2 bzip2 -9

all=("${plain[@]}" v2-xz v3-xz v3-zst v2-gz v2-bz2)
mkdir -p "$dest"
for name in "${all[@]}"; do
    rm -rf "${dest:?}/$name"
    mv "$work/$name" "$dest/$name"
done

for name in "${all[@]}"; do
    printf '%-12s %6s  %s\n' "$name" \
        "$(du -sh --apparent-size "$dest/$name" | cut -f1)" \
        "$(zcat "$dest/$name/oracle.jsonl.gz" | tail -n 1)"
done
