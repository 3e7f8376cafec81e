package coltable

import (
	"os"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// BenchmarkDecodeDay decodes a whole archive (PCP_DECODE_DAY: its base
// path, such as the bench corpus' plain day) into chunks in memory, as a
// query over every metric does on an empty cache.
func BenchmarkDecodeDay(b *testing.B) {
	_, a := benchDay(b)
	// As a query asks: every metric by PMID.
	var pmids []archive.PMID
	for _, d := range a.Meta.Descs {
		pmids = append(pmids, d.PMID)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := Decode(a, DecodeOptions{PMIDs: pmids})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, s := range d.Table.Series {
			n += s.Samples
		}
		b.ReportMetric(float64(n), "samples")
	}
}

// benchDay opens the archive PCP_DECODE_DAY names, skipping the
// benchmark when it is not set.
func benchDay(b testing.TB) (string, *archive.Archive) {
	path := os.Getenv("PCP_DECODE_DAY")
	if path == "" {
		b.Skip("PCP_DECODE_DAY not set")
	}
	a, err := archive.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, a
}
