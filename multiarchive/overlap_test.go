package multiarchive

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// timeline orders entries of the given [start, end] ranges, named a0000, a0001...
func timeline(ranges ...[2]int64) *Timeline {
	tl := &Timeline{}
	for i, r := range ranges {
		tl.entries = append(tl.entries, &Entry{Files: archive.Files{Base: fmt.Sprintf("a%04d", i)}, Start: r[0], end: r[1]})
	}
	tl.order()
	return tl
}

// pairsByScan is the definition: every (i, j), i < j in start order, where
// j starts before i's end or both start together.
func pairsByScan(tl *Timeline) []Overlap {
	var out []Overlap
	es := tl.entries
	for i := range es {
		for j := i + 1; j < len(es); j++ {
			if es[j].Start < es[i].End() || es[j].Start == es[i].Start {
				out = append(out, Overlap{es[i].Files.Base, es[j].Files.Base})
			}
		}
	}
	return out
}

// TestOverlapsMatchScan checks every overlapping pair is found, on random
// timelines with merged archives spanning many others, equal starts and
// archives that end where the next starts (no overlap).
func TestOverlapsMatchScan(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 300; round++ {
		var rs [][2]int64
		start := int64(0)
		for n := 1 + rng.Intn(40); n > 0; n-- {
			start += int64(rng.Intn(100))
			length := int64(rng.Intn(90))
			switch rng.Intn(10) {
			case 0:
				length = int64(rng.Intn(2000)) // a merged daily archive
			case 1:
				length = 0 // a label and nothing else
			}
			rs = append(rs, [2]int64{start, start + length})
		}
		tl := timeline(rs...)
		want := pairsByScan(tl)
		if !slices.Equal(tl.Overlaps(), want) || tl.OverlapCount() != len(want) {
			t.Fatalf("round %d %v: overlaps %v (%d), want %v", round, rs, tl.Overlaps(), tl.OverlapCount(), want)
		}
	}
	// Touching is not overlapping; one start is.
	if tl := timeline([2]int64{0, 10}, [2]int64{10, 20}); tl.OverlapCount() != 0 {
		t.Errorf("archives that touch: %v", tl.Overlaps())
	}
	if tl := timeline([2]int64{5, 5}, [2]int64{5, 9}); tl.OverlapCount() != 1 {
		t.Errorf("archives with one start: %v", tl.Overlaps())
	}
}

// TestOverlapsBounded: 3,000 archives with one start make 4.5 million
// pairs: all are counted, the first maxOverlaps listed.
func TestOverlapsBounded(t *testing.T) {
	var rs [][2]int64
	for range 3000 {
		rs = append(rs, [2]int64{100, 200})
	}
	tl := timeline(rs...)
	if got, want := tl.OverlapCount(), 3000*2999/2; got != want {
		t.Errorf("count %d, want %d", got, want)
	}
	if len(tl.Overlaps()) != maxOverlaps {
		t.Errorf("%d pairs listed, want %d", len(tl.Overlaps()), maxOverlaps)
	}
}

// BenchmarkOverlapsMergedDay: 10,000 five-minute pieces with a merged day
// over the first 288 of them. Ordering costs about the same per archive
// whether or not a few overlap: not quadratic.
func BenchmarkOverlapsMergedDay(b *testing.B) {
	rs := [][2]int64{{0, 288 * 300}}
	for i := range 10000 {
		rs = append(rs, [2]int64{int64(i) * 300, int64(i)*300 + 290})
	}
	for b.Loop() {
		if tl := timeline(rs...); tl.OverlapCount() != 288 {
			b.Fatal(tl.OverlapCount())
		}
	}
}
