package translate_test

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// TestLiveTableGrows serves an archive whose data volume is being written:
// first half, then whole. The in-memory table of the newest archive must
// give exactly what reading the records gives, before and after growth.
func TestLiveTableGrows(t *testing.T) {
	src := "../testdata/archives/v2-basic/v2-basic"
	a, err := archive.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	r := a.NewReader(archive.ReaderOptions{})
	for r.Next() {
		offs = append(offs, r.Record().Offset)
	}
	cut := offs[len(offs)/2] + 7 // inside a record: pmlogger mid-write
	dir := t.TempDir()
	for _, f := range []string{".meta", ".index"} {
		copyFile(t, src+f, filepath.Join(dir, "live"+f), -1)
	}
	copyFile(t, src+".0", filepath.Join(dir, "live.0"), cut)

	count := func(opts multiarchive.Options) (series, samples int) {
		opts.Paths = []string{dir}
		set, err := multiarchive.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		return select2(t, set)
	}
	tables := multiarchive.Options{TableDir: t.TempDir(), TableSync: true}
	tables.Paths = []string{dir}
	live, err := multiarchive.Open(tables)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	prev := 0
	for round := 0; round < 2; round++ {
		ws, wn := count(multiarchive.Options{})
		if wn <= prev {
			t.Fatalf("round %d: the archive did not grow (%d samples, then %d)", round, prev, wn)
		}
		prev = wn
		gs, gn := select2(t, live)
		if ws != gs || wn != gn || wn == 0 {
			t.Errorf("round %d: live table %d series %d samples, records %d series %d samples", round, gs, gn, ws, wn)
		}
		if st := live.Status().Tables; st.Live != 1 {
			t.Errorf("round %d: tables %+v", round, st)
		}
		copyFile(t, src+".0", filepath.Join(dir, "live.0"), -1) // pmlogger writes on
	}
}

func select2(t *testing.T, set *multiarchive.Set) (series, samples int) {
	q, _ := translate.New(set, translate.Options{}).Querier(math.MinInt64, math.MaxInt64)
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for ss.Next() {
		series++
		it := ss.At().Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			samples++
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return series, samples
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
