package remoteread

import (
	"bytes"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

func mustChunk(t *testing.T, s []chunks.Sample) chunks.Meta {
	t.Helper()
	m, err := chunks.ChunkFromSamples(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func withST(s []chunks.Sample) []chunks.Sample {
	out := make([]chunks.Sample, len(s))
	for i, x := range s {
		out[i] = sample{st: x.T() - 1, t: x.T(), f: x.F()}
	}
	return out
}

func TestXORChunker(t *testing.T) {
	h := &histogram.Histogram{Count: 1, Sum: 1, ZeroThreshold: 0.001, ZeroCount: 1}
	type span struct{ min, max int64 } // expected output chunks
	tests := []struct {
		name        string
		in          [][]chunks.Sample
		want        []span
		passThrough []int             // indexes of input chunks expected byte for byte in want
		inEncoding  chunkenc.Encoding // when set, what the first input chunk must be
		err         string
	}{
		{
			name: "well-formed XOR passes through",
			in:   [][]chunks.Sample{floats(0, 10, 120), floats(2000, 10, 1)},
			want: []span{{0, 1190}, {2000, 2000}}, passThrough: []int{0, 1},
		},
		{
			name: "oversized chunk is cut at 120 samples",
			in:   [][]chunks.Sample{floats(0, 10, 300)},
			want: []span{{0, 1190}, {1200, 2390}, {2400, 2990}},
		},
		{
			name: "XOR2 with start timestamps becomes XOR",
			in:   [][]chunks.Sample{withST(floats(100, 10, 5))},
			want: []span{{100, 140}}, inEncoding: chunkenc.EncXOR2,
		},
		{
			name: "histogram chunk is dropped",
			in:   [][]chunks.Sample{{sample{t: 1, h: h}, sample{t: 2, h: h}}}, inEncoding: chunkenc.EncHistogram,
		},
		{
			name: "re-encoded then passed through keeps time order",
			in:   [][]chunks.Sample{floats(0, 1, 121), floats(500, 1, 10)},
			want: []span{{0, 119}, {120, 120}, {500, 509}}, passThrough: []int{-1, -1, 1},
		},
		{
			name: "empty chunk yields nothing",
			in:   [][]chunks.Sample{{}},
		},
		{
			name: "overlapping chunks",
			in:   [][]chunks.Sample{floats(0, 10, 5), floats(40, 10, 5)},
			err:  "chunk 1: sample timestamp 40 not after 40",
		},
		{
			name: "overlap inside an oversized chunk",
			in:   [][]chunks.Sample{append(floats(0, 10, 130), sample{t: 5})},
			err:  "chunk 0: sample timestamp 5 not after 1290",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var metas []chunks.Meta
			for _, s := range tc.in {
				metas = append(metas, mustChunk(t, s))
			}
			if tc.inEncoding != chunkenc.EncNone && metas[0].Chunk.Encoding() != tc.inEncoding {
				t.Fatalf("fixture chunk is %v, want %v", metas[0].Chunk.Encoding(), tc.inEncoding)
			}
			var c xorChunker
			c.reset()
			err := c.addAll(storage.NewListChunkSeriesIterator(metas...), &sampleBudget{})
			if tc.err != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.err)) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.out) != len(tc.want) {
				t.Fatalf("%d chunks, want %d", len(c.out), len(tc.want))
			}
			var wantSamples int64
			for _, s := range tc.in {
				for _, x := range s {
					if x.H() == nil {
						wantSamples++
					}
				}
			}
			var got int64
			for i, ch := range c.out {
				if ch.Type != prompb.Chunk_XOR {
					t.Errorf("chunk %d: type %v", i, ch.Type)
				}
				if ch.MinTimeMs != tc.want[i].min || ch.MaxTimeMs != tc.want[i].max {
					t.Errorf("chunk %d: [%d, %d], want [%d, %d]", i, ch.MinTimeMs, ch.MaxTimeMs, tc.want[i].min, tc.want[i].max)
				}
				dec, err := chunkenc.FromData(chunkenc.EncXOR, ch.Data)
				if err != nil {
					t.Fatal(err)
				}
				if n := dec.NumSamples(); n > maxSamplesPerChunk {
					t.Errorf("chunk %d: %d samples", i, n)
				}
				got += int64(dec.NumSamples())
			}
			if got != wantSamples || c.samples != wantSamples {
				t.Errorf("%d samples out (counted %d), want %d", got, c.samples, wantSamples)
			}
			for i, in := range tc.passThrough {
				if in < 0 {
					continue
				}
				if !bytes.Equal(c.out[i].Data, metas[in].Chunk.Bytes()) {
					t.Errorf("chunk %d is not input chunk %d byte for byte", i, in)
				}
				if &c.out[i].Data[0] == &metas[in].Chunk.Bytes()[0] {
					t.Errorf("chunk %d aliases the storage's memory", i)
				}
			}
		})
	}
}

func TestSampleBudget(t *testing.T) {
	b := sampleBudget{limit: 3}
	for i := range 3 {
		if err := b.take(1); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	if err := b.take(1); err == nil {
		t.Fatal("4th sample within a limit of 3")
	}
	unlimited := sampleBudget{}
	if err := unlimited.take(1 << 40); err != nil {
		t.Fatalf("limit 0: %v", err)
	}
}

// exactIter is a chunk iterator that vouches for its chunks, as
// translate's does.
type exactIter struct{ chunks.Iterator }

func (exactIter) ExactChunks() bool { return true }

// TestXORChunkerExact covers chunks a storage says are exact: copied as
// they are, their times taken from the metadata, and still refused when
// they are not XOR, too large, or not in time order.
func TestXORChunkerExact(t *testing.T) {
	a, b := mustChunk(t, floats(0, 10, 120)), mustChunk(t, floats(2000, 10, 3))
	var c xorChunker
	if err := c.addAll(exactIter{storage.NewListChunkSeriesIterator(a, b)}, &sampleBudget{}); err != nil {
		t.Fatal(err)
	}
	if len(c.out) != 2 || c.samples != 123 || c.out[0].MaxTimeMs != 1190 || c.out[1].MinTimeMs != 2000 ||
		!bytes.Equal(c.out[1].Data, b.Chunk.Bytes()) {
		t.Fatalf("exact chunks not copied as they are: %+v", c.out)
	}
	for name, metas := range map[string][]chunks.Meta{
		"overlap":   {a, mustChunk(t, floats(1190, 10, 2))},
		"oversized": {mustChunk(t, floats(0, 1, 121))},
		"XOR2":      {mustChunk(t, withST(floats(100, 10, 5)))},
	} {
		var c xorChunker
		if err := c.addAll(exactIter{storage.NewListChunkSeriesIterator(metas...)}, &sampleBudget{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var lim xorChunker
	if err := lim.addAll(exactIter{storage.NewListChunkSeriesIterator(a)}, &sampleBudget{limit: 100}); err == nil {
		t.Error("sample budget not applied to exact chunks")
	}
}
