package translate_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// TestLiveTableGrows serves archives whose data volume is being written,
// in steps (each cut inside a record: pmlogger mid-write). The prefix table
// of the newest archive plus the records after it must give exactly what
// reading all records gives, samples and chunks, whether the table is
// extended at every step or its tail is read directly; <mark> records (the
// merged archives have them) fall into the table and into the tail, and so
// do values of a singular metric whose instance ids change (pmi-nullinst*).
func TestLiveTableGrows(t *testing.T) {
	for _, name := range []string{"v2-basic", "v2-merged", "v3-merged", "pmi-nullinst", "pmi-nullinst-wide"} {
		for _, tail := range []int64{0, 1} {
			t.Run(fmt.Sprintf("%s/tail=%d", name, tail), func(t *testing.T) {
				liveGrows(t, filepath.Join("../testdata/archives", name, name), tail)
			})
		}
	}
}

func liveGrows(t *testing.T, src string, tail int64) {
	a, err := archive.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files.Volumes) != 1 {
		t.Fatalf("%s: want one volume", src)
	}
	var offs []int64
	marks, mark := 0, 0
	r := a.NewReader(archive.ReaderOptions{})
	for r.Next() {
		offs = append(offs, r.Record().Offset)
		if r.Record().Mark {
			marks++
			mark = len(offs) - 1
		}
	}
	dir := t.TempDir()
	vol := filepath.Join(dir, "live.0")
	for _, f := range []string{".meta", ".index"} {
		copyFile(t, src+f, filepath.Join(dir, "live"+f), -1)
	}
	steps := []int64{offs[len(offs)/3] + 7, offs[2*len(offs)/3] + 5, -1}
	if mark > 0 {
		// The first table ends just before the <mark>, the first record
		// of the tail then.
		steps[0], steps[1] = offs[mark], max(offs[mark]+1, steps[1])
	}
	copyFile(t, src+".0", vol, steps[0])
	tables := multiarchive.Options{Paths: []string{dir}, TableDir: t.TempDir(), TableSync: true, TableTail: tail}
	live, err := multiarchive.Open(tables)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	prev := 0
	for i, cut := range steps {
		copyFile(t, src+".0", vol, cut)
		direct := pcptest.OpenSet(t, multiarchive.Options{}, dir)
		want, wn := fingerprint(t, direct, false)
		direct.Close()
		if wn <= prev {
			t.Fatalf("step %d: the archive did not grow (%d samples, then %d)", i, prev, wn)
		}
		prev = wn
		for _, chunked := range []bool{false, true} {
			if got, gn := fingerprint(t, live, chunked); got != want {
				t.Errorf("step %d (chunks %v): %d samples through the prefix table differ from the %d read directly:\n%s", i, chunked, gn, wn, firstDiff(got, want))
			}
		}
		st := live.Status().Tables
		if st.Prefixes != 1 || tail == 1 && st.Extended != uint64(i+1) || tail == 0 && st.Extended != 1 {
			t.Errorf("step %d: tables %+v", i, st)
		}
	}
	t.Logf("%d records, %d marks, %d samples", len(offs), marks, prev)
}

// fingerprint lists every series and sample a set serves over all time,
// through the Querier or the ChunkQuerier (its chunks decoded).
func fingerprint(t *testing.T, set *multiarchive.Set, chunked bool) (string, int) {
	return fingerprintIn(t, set, chunked, math.MinInt64, math.MaxInt64)
}

func fingerprintIn(t *testing.T, set *multiarchive.Set, chunked bool, mint, maxt int64) (string, int) {
	t.Helper()
	st := translate.New(set, translate.Options{})
	m := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	var b strings.Builder
	n := 0
	// A series with no sample in the window may be listed (its table says
	// it has samples around it); both front ends drop such series.
	add := func(lset labels.Labels, it chunkenc.Iterator) {
		head := fmt.Sprintf("%s\n", lset)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			fmt.Fprintf(&b, "%s %d %x\n", head, ts, math.Float64bits(v))
			head = ""
			n++
		}
	}
	if !chunked {
		q, _ := st.Querier(mint, maxt)
		ss := q.Select(context.Background(), true, nil, m)
		for ss.Next() {
			add(ss.At().Labels(), ss.At().Iterator(nil))
		}
		if err := ss.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String(), n
	}
	q, _ := st.ChunkQuerier(mint, maxt)
	ss := q.Select(context.Background(), true, nil, m)
	var it chunks.Iterator // reused from series to series, as the adapter does
	for ss.Next() {
		head := fmt.Sprintf("%s\n", ss.At().Labels())
		it = ss.At().Iterator(it)
		last := int64(math.MinInt64)
		for it.Next() {
			c := it.At()
			ci := c.Chunk.Iterator(nil)
			k := 0
			for ci.Next() == chunkenc.ValFloat {
				ts, v := ci.At()
				if ts <= last || k == 0 && ts != c.MinTime || ts > c.MaxTime {
					t.Fatalf("%s: sample at %d out of order or outside its chunk [%d, %d]", ss.At().Labels(), ts, c.MinTime, c.MaxTime)
				}
				last = ts
				fmt.Fprintf(&b, "%s %d %x\n", head, ts, math.Float64bits(v))
				head = ""
				n++
				k++
			}
			if last != c.MaxTime {
				t.Fatalf("%s: chunk [%d, %d] ends at %d", ss.At().Labels(), c.MinTime, c.MaxTime, last)
			}
			if k == 0 || k > 120 {
				t.Fatalf("%s: a chunk of %d samples", ss.At().Labels(), k)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String(), n
}

// TestChunksMatchSamples checks the chunk path (table chunks passed
// through, the rest encoded) against the sample path and against reading
// records without tables, over sets of several day-long archives with
// series longer than a chunk, for windows that cut chunks and archives.
func TestChunksMatchSamples(t *testing.T) {
	for _, dir := range []string{"../testdata/demo", "../testdata/archives/v3-multivol", "../testdata/archives/v2-merged"} {
		plain := pcptest.OpenSet(t, multiarchive.Options{}, dir)
		tdir := t.TempDir()
		tables, err := multiarchive.Open(multiarchive.Options{Paths: []string{dir}, TableDir: tdir, TableSync: true})
		if err != nil {
			t.Fatal(err)
		}
		start, end := plain.Span()
		s, e := start/1e6, end/1e6
		windows := [][2]int64{{math.MinInt64, math.MaxInt64}, {s + (e-s)/3, s + 2*(e-s)/3}, {s + (e-s)/2, e}}
		if e-s > 200000 {
			windows = append(windows, [2]int64{s + 12345, e - 54321}) // cuts chunks at both ends
		}
		for _, w := range windows {
			want, n := fingerprintIn(t, plain, false, w[0], w[1])
			if got, _ := fingerprintIn(t, plain, true, w[0], w[1]); got != want {
				t.Errorf("%s [%d, %d]: chunks of records differ from their samples:\n%s", dir, w[0], w[1], firstDiff(got, want))
			}
			for i := 0; i < 2; i++ { // tables built by the first round, used by the second
				for _, chunked := range []bool{false, true} {
					if got, _ := fingerprintIn(t, tables, chunked, w[0], w[1]); got != want {
						t.Errorf("%s [%d, %d] (chunks %v): through tables differs from %d samples read directly:\n%s", dir, w[0], w[1], chunked, n, firstDiff(got, want))
					}
				}
			}
			if n == 0 {
				t.Errorf("%s [%d, %d]: no samples", dir, w[0], w[1])
			}
		}
		if st := tables.Status().Tables; st.Built == 0 && st.Prefixes == 0 {
			t.Errorf("%s: no tables used: %+v", dir, st)
		}
		plain.Close()
		tables.Close()
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(g), len(w))
}

// copyFile copies src to dst, the first n bytes only when n >= 0, keeping
// dst's inode (a growing file, as pmlogger writes it).
func copyFile(t *testing.T, src, dst string, n int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var rd io.Reader = in
	if n >= 0 {
		rd = io.LimitReader(in, n)
	}
	if _, err := io.Copy(out, rd); err != nil {
		t.Fatal(err)
	}
}
