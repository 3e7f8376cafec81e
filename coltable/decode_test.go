package coltable

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
// a time or in batches of records laid out alike, in one part, in parts by
// metric or in parts by time, it makes the same series. One record at a
// time in one part is the reference; batches and parts by metric must give
// the same bytes (the same chunks), parts by time the same samples (their
// chunks are cut where the parts meet).
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
		if pmidSplit(a, pmids, 2) != nil {
			bymetric++
		}
		for _, w := range []struct {
			what  string
			opt   DecodeOptions
			exact bool
		}{
			{"batches", DecodeOptions{parts: 1}, true},
			{"parts by metric", DecodeOptions{parts: 2}, true},
			{"three parts by metric, no batches", DecodeOptions{parts: 3, noBatch: true}, true},
		} {
			got := decode(w.opt)
			// An archive of few metrics is decoded in parts by time,
			// whose chunks are cut where the parts meet.
			exact := w.exact && (w.opt.parts < 2 || pmidSplit(a, pmids, w.opt.parts) != nil)
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
		t.Fatalf("only %d archives decoded in parts by metric", bymetric)
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
			if !bytes.Equal(w.mem, g.mem) {
				return fmt.Sprintf("series %s/%d: chunks differ", w.PMID, w.Inst)
			}
			continue
		}
		if msg := diffSamples(w, w.mem, g.mem); msg != "" {
			return msg
		}
	}
	return ""
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
