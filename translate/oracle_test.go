package translate_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

type point struct {
	t int64
	v float64
}

var corpusDir = flag.String("corpus", "", "check every archive under this directory (e.g. ../shared/corpus/pcp-qa) against its libpcp dump instead of testdata's")

// TestSelectMatchesLibpcp selects every metric of each test archive (and
// archive directory) and checks that the samples are exactly libpcp's
// numeric values: same value, time floored to the ms, one sample per ms
// (the first), named as the README says, with a staleness marker at each
// <mark> for the series that had samples before it; in the sample form
// and the chunk form (what a streamed remote read gets), read directly,
// through column tables (built, then again from disk) and through a prefix
// table of each host's newest archive plus the records after it. make
// corpus-check runs it over the shared corpus too.
func TestSelectMatchesLibpcp(t *testing.T) {
	roots := []string{"../testdata/archives", "../testdata/pcp-qa"}
	if *corpusDir != "" {
		roots = []string{*corpusDir}
	}
	for _, multi := range []bool{false, true} {
		pcptest.ForEachCase(t, "translate: samples and chunks, tables off and on", roots, multi, func(c pcptest.Case) error {
			dir, err := os.MkdirTemp("", "oracle-tables-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			prefix, err := os.MkdirTemp("", "oracle-prefix-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(prefix)
			for _, o := range []struct {
				what string
				opts multiarchive.Options
			}{
				{"direct", multiarchive.Options{}},
				{"tables", multiarchive.Options{TableDir: dir, TableSync: true, TableAll: true}},
				{"tables from disk", multiarchive.Options{TableDir: dir, TableSync: true, TableAll: true}},
				{"prefix table and tail", multiarchive.Options{TableDir: prefix, TableSync: true}},
			} {
				if err := checkSelect(c, o.opts); err != nil {
					return fmt.Errorf("%s: %w", o.what, err)
				}
			}
			return nil
		})
	}
}

// checkSelect compares one way of reading a case with its libpcp dump.
func checkSelect(c pcptest.Case, opts multiarchive.Options) error {
	opts.Paths = []string{c.Archive}
	set, err := multiarchive.Open(opts)
	if err != nil {
		return err
	}
	defer set.Close()
	hosts := set.Hosts()
	if len(hosts) != 1 {
		return fmt.Errorf("want 1 host, got %d", len(hosts))
	}
	var errs []string
	fail := func(format string, args ...any) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	host := hosts[0].Host
	// Every name of a PMID is queryable; libpcp's dump names one of them.
	arcs, _ := hosts[0].Open(math.MinInt64, math.MaxInt64)
	namesOf := map[string][]string{}
	for _, o := range arcs {
		for _, d := range o.Archive.Meta.Descs {
			for _, n := range d.Names {
				if p, _ := o.Archive.Meta.Lookup(n); p == d.PMID && !contains(namesOf[d.PMID.String()], n) {
					namesOf[d.PMID.String()] = append(namesOf[d.PMID.String()], n)
				}
			}
		}
	}
	lines, err := pcptest.ReadDump(c.Dump)
	if err != nil {
		return err
	}
	names := &instNames{arcs: arcs, res: map[instKey]*archive.Resolver{}}
	// Expected series from libpcp's dump.
	want := map[string][]point{}
	lastMs := map[string]int64{}
	var openSeries []string
	isOpen := map[string]bool{}
	numeric := map[string]bool{"32": true, "U32": true, "64": true, "U64": true, "FLOAT": true, "DOUBLE": true}
	for _, l := range lines {
		ms := floorMs(l.T)
		if l.Mark {
			for _, k := range openSeries {
				want[k] = append(want[k], point{ms, math.Float64frombits(value.StaleNaN)})
				lastMs[k] = ms
			}
			openSeries, isOpen = nil, map[string]bool{}
			continue
		}
		if l.End || !numeric[l.Type] || l.Name == nil {
			continue
		}
		v, err := value64(l.Type, l.V)
		if err != nil {
			return fmt.Errorf("bad dump value %s: %v", l.V, err)
		}
		iname := l.IName
		if l.InDom != nil {
			n, err := names.at(l)
			if err != nil {
				return err
			}
			iname = n
		}
		for _, name := range namesOf[l.PMID] {
			lb := labels.NewBuilder(labels.EmptyLabels())
			lb.Set("__name__", translate.MetricName(name))
			lb.Set("hostname", host)
			if l.InDom != nil {
				lb.Set("instid", strconv.Itoa(int(l.Inst)))
				if iname != nil && *iname != "" {
					lb.Set("instname", *iname)
				}
			}
			k := lb.Labels().String()
			if p, ok := lastMs[k]; ok && p == ms {
				continue // one sample per ms: the first
			}
			want[k] = append(want[k], point{ms, v})
			lastMs[k] = ms
			if !isOpen[k] {
				isOpen[k] = true
				openSeries = append(openSeries, k)
			}
		}
	}

	st := translate.New(set, translate.Options{})
	q, err := st.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return err
	}
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	got := map[string][]point{}
	withValues := map[string]bool{}
	var prev labels.Labels
	for ss.Next() {
		s := ss.At()
		lset := s.Labels()
		withValues[lset.String()] = hasValue(s.Iterator(nil))
		if prev.Len() > 0 && labels.Compare(prev, lset) >= 0 {
			return fmt.Errorf("series not sorted or not unique: %s then %s", prev, lset)
		}
		prev = lset
		// Compare on the labels libpcp's dump can tell us about.
		k := oracleKey(lset)
		it := s.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			got[k] = append(got[k], point{ts, v})
		}
	}
	if err := ss.Err(); err != nil {
		return err
	}
	if err := sameAsChunks(st, got); err != nil {
		return err
	}
	if st := set.Status().Tables; opts.TableAll && (st.Loaded == 0 || st.Failed > 0) || opts.TableDir != "" && !opts.TableAll && st.Prefixes == 0 {
		fail("tables: %+v", st)
	}
	if len(got) != len(want) {
		fail("got %d series, libpcp has %d", len(got), len(want))
	}
	// The series lookups list exactly the series with a value.
	listed := q.Select(context.Background(), false, &storage.SelectHints{Start: math.MinInt64, End: math.MaxInt64, Func: "series"},
		labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	n := 0
	for listed.Next() {
		if k := listed.At().Labels().String(); !withValues[k] {
			fail("series lookup lists %s, which has no value", k)
		}
		n++
	}
	for _, ok := range withValues {
		if ok {
			n--
		}
	}
	if n != 0 {
		fail("series lookup lists %d series more than have values", n)
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			fail("%s: got %d samples, want %d", k, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i].t != w[i].t || !sameFloat(g[i].v, w[i].v) {
				fail("%s: sample %d: got %d %v, want %d %v", k, i, g[i].t, g[i].v, w[i].t, w[i].v)
				break
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// instNames gives the instance name a series is labelled with: the name
// in the instance domain in force at the sample's time. That is libpcp's
// name too, but where an instance id was later given another name (a
// process id reused by a new process, PCP QA's 20180416 and bigace_v2):
// libpcp's dumper then reports the latest name for the earlier samples as
// well (kworker's values named "000809 rpm", the process that had pid 809
// hours later). We follow the archive, and at checks that libpcp's name is
// either the one in force or that latest one.
type instNames struct {
	arcs   []multiarchive.Opened
	res    map[instKey]*archive.Resolver
	indoms map[string]archive.InDom // by PMID
}

type instKey struct {
	arc   int
	indom archive.InDom
}

func (n *instNames) at(l pcptest.Line) (*string, error) {
	ai := 0
	for i, o := range n.arcs {
		if o.Entry.Start <= l.T {
			ai = i
		}
	}
	if n.indoms == nil {
		n.indoms = map[string]archive.InDom{}
		for _, o := range n.arcs {
			for _, d := range o.Archive.Meta.Descs {
				n.indoms[d.PMID.String()] = d.InDom
			}
		}
	}
	indom := n.indoms[l.PMID]
	h := n.arcs[ai].Archive.Meta.InDoms[indom]
	if h == nil {
		return l.IName, nil
	}
	k := instKey{ai, indom}
	r := n.res[k]
	if r == nil {
		r = h.Resolver()
		n.res[k] = r
	}
	r.At(l.T)
	name, ok := r.Name(l.Inst)
	if !ok {
		if name, ok = h.NameAnyTime(l.Inst); !ok {
			return l.IName, nil
		}
	}
	if l.IName != nil && *l.IName != name {
		if latest, _ := h.NameAnyTime(l.Inst); *l.IName != latest {
			return nil, fmt.Errorf("instance %d at %d: libpcp names it %q, the archive %q (latest %q)", l.Inst, l.T, *l.IName, name, latest)
		}
	}
	return &name, nil
}

// oracleKey is a series' key in the libpcp comparison: the labels the dump
// tells about.
func oracleKey(lset labels.Labels) string {
	return labels.NewBuilder(lset).Keep("__name__", "hostname", "instid", "instname").Labels().String()
}

// sameAsChunks checks that the chunk form (what a streamed remote read
// sends) holds exactly the samples of the sample form.
func sameAsChunks(st *translate.Storage, got map[string][]point) error {
	q, err := st.ChunkQuerier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return err
	}
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	chunked := map[string][]point{}
	var it chunkenc.Iterator
	for ss.Next() {
		k := oracleKey(ss.At().Labels())
		ci := ss.At().Iterator(nil)
		for ci.Next() {
			it = ci.At().Chunk.Iterator(it)
			for it.Next() == chunkenc.ValFloat {
				ts, v := it.At()
				chunked[k] = append(chunked[k], point{ts, v})
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		if err := ci.Err(); err != nil {
			return err
		}
	}
	if err := ss.Err(); err != nil {
		return err
	}
	for k, g := range got {
		c := chunked[k]
		if len(c) != len(g) {
			return fmt.Errorf("%s: %d samples as chunks, %d as samples", k, len(c), len(g))
		}
		for i := range g {
			if c[i].t != g[i].t || !sameFloat(c[i].v, g[i].v) {
				return fmt.Errorf("%s: chunk sample %d is %d %v, sample %d %v", k, i, c[i].t, c[i].v, g[i].t, g[i].v)
			}
		}
	}
	for k, c := range chunked {
		if _, ok := got[k]; !ok && len(c) > 0 {
			return fmt.Errorf("%s: only as chunks", k)
		}
	}
	return nil
}

// hasValue tells whether an iterator has a sample that is not a
// staleness marker.
func hasValue(it chunkenc.Iterator) bool {
	for it.Next() == chunkenc.ValFloat {
		if _, v := it.At(); !value.IsStaleNaN(v) {
			return true
		}
	}
	return false
}

func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

func sameFloat(a, b float64) bool {
	if value.IsStaleNaN(a) || value.IsStaleNaN(b) {
		return value.IsStaleNaN(a) && value.IsStaleNaN(b)
	}
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

func value64(typ string, raw json.RawMessage) (float64, error) {
	switch typ {
	case "U64":
		u, err := strconv.ParseUint(string(raw), 10, 64)
		return float64(u), err
	case "64":
		n, err := strconv.ParseInt(string(raw), 10, 64)
		return float64(n), err
	}
	return pcptest.ParseFloat(raw)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
