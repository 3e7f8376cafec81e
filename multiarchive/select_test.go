package multiarchive

import (
	"math/rand"
	"testing"
)

// TestSelectMatchesScan checks the binary-search Select against its
// definition (every archive starting by t2 with upper(i) >= t1) on random
// timelines with gaps, overlaps, equal starts and long merged archives, also
// after ends grow as records are read (NoteTime).
func TestSelectMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 300; round++ {
		s := &Set{}
		tl := &Timeline{set: s}
		n := 1 + rng.Intn(40)
		start := int64(0)
		for i := 0; i < n; i++ {
			start += int64(rng.Intn(100))
			length := int64(rng.Intn(90))
			if rng.Intn(10) == 0 {
				length = int64(rng.Intn(2000)) // a merged daily archive
			}
			tl.entries = append(tl.entries, &Entry{Start: start, end: start + length, set: s})
		}
		rng.Shuffle(len(tl.entries), func(i, j int) { tl.entries[i], tl.entries[j] = tl.entries[j], tl.entries[i] })
		tl.order()
		check := func() {
			t.Helper()
			for q := 0; q < 200; q++ {
				t1 := int64(rng.Intn(int(start) + 300))
				t2 := t1 + int64(rng.Intn(400))
				got := tl.Select(t1, t2)
				var want []*Entry
				for i, e := range tl.entries {
					if e.Start <= t2 && tl.upper(i) >= t1 {
						want = append(want, e)
					}
				}
				if len(got) != len(want) {
					t.Fatalf("round %d: Select(%d, %d) = %d archives, want %d", round, t1, t2, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("round %d: Select(%d, %d)[%d] = archive at %d, want %d", round, t1, t2, i, got[i].Start, want[i].Start)
					}
				}
			}
		}
		check()
		// Reading finds later records than the index told: some ends grow,
		// some past the next archive's start.
		for k := 0; k < 5; k++ {
			e := tl.entries[rng.Intn(len(tl.entries))]
			e.NoteTime(e.End() + int64(rng.Intn(300)))
			check()
		}
	}
}
