package translate

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// TestSampleIterator checks the sample iterator of ordered series, which
// walks their chunks, against materialize and Prometheus' list iterator
// over its samples: the same samples from Next, the same positions from
// Seek (forward, to every kind of target), with iterators reused from
// series to series as PromQL reuses them.
func TestSampleIterator(t *testing.T) {
	for _, dir := range []string{"../testdata/demo", "../testdata/archives/v3-multivol", "../testdata/archives/v2-merged"} {
		for _, withTables := range []bool{false, true} {
			opt := multiarchive.Options{Paths: []string{dir}}
			if withTables {
				opt.TableDir, opt.TableSync = t.TempDir(), true
			}
			set, err := multiarchive.Open(opt)
			if err != nil {
				t.Fatal(err)
			}
			start, end := set.Span()
			s, e := start/1e6, end/1e6
			st := New(set, Options{})
			for round := 0; round < 2; round++ { // tables built by the first round, used by the second
				for _, w := range [][2]int64{{math.MinInt64, math.MaxInt64}, {s + (e-s)/3, e - (e-s)/4}} {
					checkSampleIterators(t, st, dir, w[0], w[1])
				}
			}
			set.Close()
		}
	}
}

func checkSampleIterators(t *testing.T, st *Storage, dir string, mint, maxt int64) {
	t.Helper()
	q, err := st.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var it, seekIt chunkenc.Iterator
	ordered, samples := 0, 0
	for ss.Next() {
		sr, ok := ss.At().(*series)
		if !ok {
			t.Fatalf("series of type %T", ss.At())
		}
		want := sr.materialize()
		if !sr.walkable() {
			continue
		}
		ordered++
		samples += len(want)
		it = sr.Iterator(it)
		if _, ok := it.(*sampleIterator); !ok {
			t.Fatalf("iterator of an ordered series is a %T", it)
		}
		if h := it.(*sampleIterator).SamplesHint(); h != len(want) {
			t.Errorf("%s: %s: hint %d, %d samples", dir, sr.lset, h, len(want))
		}
		k := 0
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			tt, v := it.At()
			if k >= len(want) || vt != chunkenc.ValFloat || tt != want[k].t || math.Float64bits(v) != math.Float64bits(want[k].v) || it.AtT() != tt {
				t.Fatalf("%s [%d, %d]: %s: sample %d is (%d, %v), want %v", dir, mint, maxt, sr.lset, k, tt, v, want[min(k, len(want)-1)])
			}
			k++
		}
		if k != len(want) || it.Err() != nil || it.Next() != chunkenc.ValNone {
			t.Fatalf("%s: %s: %d samples of %d, err %v", dir, sr.lset, k, len(want), it.Err())
		}
		// Seek: a step through the series' own timestamps and the gaps
		// between them, then past its end, with Nexts in between.
		var targets []int64
		if len(want) > 0 {
			targets = append(targets, want[0].t-1)
		}
		for i := 0; i < len(want); i += 1 + len(want)/7 {
			targets = append(targets, want[i].t, want[i].t+1, want[i].t+1) // twice: no move back
		}
		if len(want) > 0 {
			targets = append(targets, want[len(want)-1].t, want[len(want)-1].t+1)
		}
		seekIt = sr.Iterator(seekIt)
		ref := storage.NewListSeriesIterator(sampleList(want))
		for n, target := range targets {
			gv, wv := seekIt.Seek(target), ref.Seek(target)
			if gv != wv || gv != chunkenc.ValNone && seekIt.AtT() != ref.AtT() {
				t.Fatalf("%s: %s: seek %d to %d: %v, want %v", dir, sr.lset, n, target, gv, wv)
			}
			if n%3 == 1 && gv != chunkenc.ValNone {
				gv, wv = seekIt.Next(), ref.Next()
				if gv != wv || gv != chunkenc.ValNone && seekIt.AtT() != ref.AtT() {
					t.Fatalf("%s: %s: next after seek %d: %v, want %v", dir, sr.lset, n, gv, wv)
				}
			}
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	if ordered == 0 || samples == 0 {
		t.Errorf("%s [%d, %d]: %d ordered series, %d samples", dir, mint, maxt, ordered, samples)
	}
}
