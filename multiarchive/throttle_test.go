package multiarchive

import (
	"reflect"
	"testing"
	"time"
)

// TestThrottle checks the builder's pacing on a clock of its own: no pause
// while no query reads directly; while one does, a pause three times as
// long as the work since the last one, once that is long enough to count,
// and never longer than throttleMax; the wait before a build is not work.
func TestThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	busy := false
	var slept []time.Duration
	th := throttle{
		busy:  func() bool { return busy },
		sleep: func(d time.Duration) { slept = append(slept, d); now = now.Add(d) },
		now:   func() time.Time { return now },
	}
	work := func(d time.Duration) { now = now.Add(d); th.yield() }

	work(0) // the first call starts the clock
	work(50 * time.Millisecond)
	work(50 * time.Millisecond)
	if len(slept) != 0 {
		t.Fatalf("idle: slept %v", slept)
	}
	busy = true
	work(30 * time.Millisecond)
	work(5 * time.Millisecond)  // too short: counted with the next
	work(10 * time.Millisecond) // 15 ms: still too short
	work(10 * time.Millisecond) // 25 ms
	work(2 * time.Second)       // capped
	// A new build after a wait for its job: the wait is not work.
	now = now.Add(time.Hour)
	th.begin()
	work(40 * time.Millisecond)
	busy = false
	work(50 * time.Millisecond)
	want := []time.Duration{90 * time.Millisecond, 75 * time.Millisecond, throttleMax, 120 * time.Millisecond}
	if !reflect.DeepEqual(slept, want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
}

// TestDirectRead checks the count of direct readers that the builder
// looks at: each done counts once, and a Set without background builds
// (no table directory, or builds on the caller's goroutine) ignores it.
func TestDirectRead(t *testing.T) {
	ts := newTableStore(t.TempDir(), false, 0, nil)
	s := &Set{tables: ts}
	defer s.Close()
	d1, d2 := s.DirectRead(), s.DirectRead()
	if !ts.pause.busy() || ts.direct.Load() != 2 {
		t.Fatalf("two readers: busy %v, count %d", ts.pause.busy(), ts.direct.Load())
	}
	d1()
	d1()
	if ts.direct.Load() != 1 {
		t.Fatalf("one reader left, twice done: count %d", ts.direct.Load())
	}
	d2()
	if ts.pause.busy() {
		t.Fatal("busy with no reader")
	}
	(&Set{}).DirectRead()()
	sync := &Set{tables: newTableStore(t.TempDir(), true, 0, nil)}
	sync.DirectRead()
	if sync.tables.direct.Load() != 0 || yield(nil) != nil {
		t.Fatal("a Set building on the caller's goroutine counts direct readers or yields")
	}
}

// TestWaitIdle: the first backlog plan waits until no query has read
// directly for the delay, and no longer than its bound while queries
// never stop.
func TestWaitIdle(t *testing.T) {
	ts := newTableStore(t.TempDir(), false, 0, nil)
	s := &Set{tables: ts}
	defer s.Close()
	start := time.Now()
	done := s.DirectRead()
	var ended time.Time
	go func() {
		time.Sleep(150 * time.Millisecond)
		ended = time.Now()
		done()
	}()
	ts.waitIdle(50*time.Millisecond, 10*time.Second)
	if ended.IsZero() || time.Since(ended) < 50*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Fatalf("returned %v after start, %v after the query ended", time.Since(start), time.Since(ended))
	}
	// A query that never ends holds the plan off only until the bound.
	defer s.DirectRead()()
	start = time.Now()
	ts.waitIdle(20*time.Millisecond, 200*time.Millisecond)
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("a query that never ends: returned after %v, want the 200 ms bound", d)
	}
}
