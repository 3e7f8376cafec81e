package coltable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// testArchiveBases lists every archive under testdata: the base path of
// each .meta, compressed or not.
func testArchiveBases(t *testing.T) []string {
	t.Helper()
	var bases []string
	for _, root := range []string{"../testdata/archives", "../testdata/pcp-qa"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			for _, ext := range []string{".meta", ".meta.xz", ".meta.zst", ".meta.gz", ".meta.bz2"} {
				if strings.HasSuffix(name, ext) {
					bases = append(bases, strings.TrimSuffix(path, ext))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(bases) < 40 {
		t.Fatalf("only %d test archives", len(bases))
	}
	return bases
}

// TestDecodeWaysAgree: however Decode goes about an archive, one record at
// a time or in batches of records laid out alike, encoded where they are
// read or on workers beside the reading, in one part or in parts by time,
// it makes the same series. One record at a time in one part is the
// reference; batches, on workers or not, must give the same bytes (the
// same chunks), parts by time the same samples (their chunks are cut where
// the parts meet).
func TestDecodeWaysAgree(t *testing.T) {
	batched, split, bymetric := 0, 0, 0
	for _, base := range testArchiveBases(t) {
		a, err := archive.Open(base)
		if err != nil {
			continue // the damaged ones: archive's tests
		}
		var pmids []archive.PMID
		for _, d := range a.Meta.Descs {
			pmids = append(pmids, d.PMID)
		}
		decode := func(opt DecodeOptions) *Decoded {
			t.Helper()
			opt.PMIDs = pmids
			d, err := Decode(a, opt)
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			return d
		}
		ref := decode(DecodeOptions{parts: 1, noBatch: true})
		if manyMetrics(DecodeOptions{PMIDs: pmids}, 2) && len(timeSplit(a, 0, 0, 2, 1)) > 1 {
			bymetric++
		}
		for _, w := range []struct {
			what  string
			opt   DecodeOptions
			exact bool
		}{
			{"batches", DecodeOptions{parts: 1}, true},
			{"batches encoded on two workers", DecodeOptions{parts: 2}, true},
			{"batches encoded on three workers", DecodeOptions{parts: 3}, true},
			{"three parts by time, no batches", DecodeOptions{parts: 3, noBatch: true}, false},
		} {
			got := decode(w.opt)
			// An archive of few metrics is decoded in parts by time,
			// whose chunks are cut where the parts meet.
			exact := w.exact && (w.opt.parts < 2 || manyMetrics(DecodeOptions{PMIDs: pmids}, w.opt.parts))
			if d := diffDecoded(ref, got, exact); d != "" {
				t.Errorf("%s, %s: %s", base, w.what, d)
			}
		}
		// Parts by time: one metric at a time, as a query of one metric.
		for _, p := range pmids[:min(len(pmids), 3)] {
			one := func(opt DecodeOptions) *Decoded {
				opt.PMIDs = []archive.PMID{p}
				d, err := Decode(a, opt)
				if err != nil {
					t.Fatalf("%s: %v", base, err)
				}
				return d
			}
			if len(timeSplit(a, 0, 0, 3, 1)) > 1 {
				split++
			}
			if d := diffDecoded(one(DecodeOptions{parts: 1, noBatch: true}), one(DecodeOptions{parts: 3}), false); d != "" {
				t.Errorf("%s, %s in parts by time: %s", base, p, d)
			}
		}
		if a2, err := archive.Open(base); err == nil {
			r := a2.NewReader(archive.ReaderOptions{})
			for r.Next() {
				if r.Record().Layout() != 0 {
					batched++
					break
				}
			}
			r.Close()
		}
	}
	if bymetric < 10 {
		t.Fatalf("only %d archives encoded on workers", bymetric)
	}
	if split < 10 {
		t.Fatalf("only %d archives decoded in parts by time: the joins are not tested", split)
	}
	if batched < 20 {
		t.Fatalf("only %d archives have records laid out alike: the batches are not tested", batched)
	}
}

// diffDecoded says how two decodings of one archive differ: their series
// (keys, spans, counts), and the chunk bytes (exact) or samples.
func diffDecoded(want, got *Decoded, exact bool) string {
	if (want.Err == nil) != (got.Err == nil) || want.First != got.First || want.Last != got.Last || len(want.Bad) != len(got.Bad) {
		return fmt.Sprintf("err %v/%v, span %d-%d/%d-%d, bad %d/%d", want.Err, got.Err, want.First, want.Last, got.First, got.Last, len(want.Bad), len(got.Bad))
	}
	ws, gs := want.Table.Series, got.Table.Series
	if len(ws) != len(gs) {
		return fmt.Sprintf("%d series, want %d", len(gs), len(ws))
	}
	for i := range ws {
		w, g := ws[i], gs[i]
		if w.PMID != g.PMID || w.Inst != g.Inst || w.IName != g.IName || w.Named != g.Named || w.MinT != g.MinT || w.MaxT != g.MaxT || w.Samples != g.Samples {
			return fmt.Sprintf("series %d: %+v, want %+v", i, g, w)
		}
		if exact {
			if !bytes.Equal(memBytes(w), memBytes(g)) {
				return fmt.Sprintf("series %s/%d: chunks differ", w.PMID, w.Inst)
			}
			continue
		}
		if msg := diffSamples(w, memBytes(w), memBytes(g)); msg != "" {
			return msg
		}
	}
	return ""
}

// memBytes is the chunks of a series of a table in memory, in one piece.
func memBytes(s Series) []byte {
	return joinPieces(s.mem, 0, s.len)
}

// diffSamples says how the samples of two chunk sequences of series w
// differ, "" when they are the same.
func diffSamples(w Series, want, got []byte) string {
	a, err1 := appendSamples(nil, want)
	b, err2 := appendSamples(nil, got)
	if err1 != nil || err2 != nil || len(a) != len(b) {
		return fmt.Sprintf("series %s/%d: %d samples (%v), want %d (%v)", w.PMID, w.Inst, len(b), err2, len(a), err1)
	}
	for j := range a {
		if a[j].t != b[j].t || !sameFloat(a[j].v, b[j].v) {
			return fmt.Sprintf("series %s/%d, sample %d: %v, want %v", w.PMID, w.Inst, j, b[j], a[j])
		}
	}
	return ""
}

// sameFloat compares values bit for bit: NaNs (and staleness markers) too.
func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// TestMemPieces: a series of a decoding in parts by time keeps the parts'
// chunks where they were made, in pieces; the pieces are whole chunks, and
// laid end to end they are what ReadSeries gives.
func TestMemPieces(t *testing.T) {
	pieced := 0
	for _, base := range testArchiveBases(t) {
		a, err := archive.Open(base)
		if err != nil {
			continue
		}
		for k, d := range a.Meta.Descs {
			if k == 4 {
				break // enough, and a few seconds less
			}
			dec, err := Decode(a, DecodeOptions{PMIDs: []archive.PMID{d.PMID}, parts: 3})
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			tbl := dec.Table
			for i := range tbl.Series {
				s := &tbl.Series[i]
				pieces := tbl.MemPieces(i)
				if len(pieces) > 1 {
					pieced++
				}
				var joined []byte
				n := 0
				for _, p := range pieces {
					for rest := p; len(rest) > 0; n++ {
						if _, rest, err = tbl.NextChunk(rest); err != nil {
							t.Fatalf("%s: series %s/%d: a piece is not whole chunks: %v", base, s.PMID, s.Inst, err)
						}
					}
					joined = append(joined, p...)
				}
				whole, err := tbl.ReadSeries(nil, i, nil)
				if err != nil || !bytes.Equal(whole, joined) || len(joined) != s.len {
					t.Fatalf("%s: series %s/%d: pieces of %d bytes, ReadSeries %d (%v), len %d", base, s.PMID, s.Inst, len(joined), len(whole), err, s.len)
				}
				if n == 0 {
					t.Fatalf("%s: series %s/%d: no chunks", base, s.PMID, s.Inst)
				}
			}
		}
	}
	if pieced < 10 {
		t.Fatalf("only %d series in pieces: the joins are not tested", pieced)
	}
	t.Logf("%d series in pieces", pieced)
}

// TestDecodeStops: a Decode stopped by its sample bound or its context,
// with its batches on workers or not, returns that error and leaves no
// worker behind.
func TestDecodeStops(t *testing.T) {
	before := runtime.NumGoroutine()
	stopped := 0
	for _, base := range testArchiveBases(t) {
		a, err := archive.Open(base)
		if err != nil {
			continue
		}
		var pmids []archive.PMID
		for _, d := range a.Meta.Descs {
			pmids = append(pmids, d.PMID)
		}
		full, err := Decode(a, DecodeOptions{PMIDs: pmids, parts: 1})
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		total := 0
		for _, s := range full.Table.Series {
			total += s.Samples
		}
		if total < 10 {
			continue
		}
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		for _, parts := range []int{1, 2, 3} {
			_, err := Decode(a, DecodeOptions{PMIDs: pmids, parts: parts, MaxSamples: int64(total / 2)})
			if !errors.Is(err, ErrSampleLimit) {
				t.Errorf("%s, %d parts, at most %d of %d samples: %v, want ErrSampleLimit", base, parts, total/2, total, err)
			}
			if _, err := Decode(a, DecodeOptions{PMIDs: pmids, parts: parts, Ctx: canceled}); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s, %d parts, canceled: %v", base, parts, err)
			}
			stopped++
		}
	}
	if stopped < 30 {
		t.Fatalf("only %d decodings stopped", stopped)
	}
	// The workers end with their Decode.
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the decodings, %d before", n, before)
	}
}
