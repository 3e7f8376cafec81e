package multiarchive

import "math"

// What only the tests use.

// upper is a bound no record of entry i lies after: the next archive's
// start, unless the archive is known to run past it (an overlap); the last
// archive may still be growing. Select finds the same archives without it.
func (tl *Timeline) upper(i int) int64 {
	if i+1 >= len(tl.entries) {
		return math.MaxInt64
	}
	return max(tl.entries[i].End(), tl.entries[i+1].Start)
}
