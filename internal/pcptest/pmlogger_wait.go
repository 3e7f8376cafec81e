package pcptest

import (
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// WaitRecord waits up to 15 s until pmlogger's archive holds a data record,
// reading the archive directly (not through a Set); pmlogger exiting first
// fails the test.
func (p *Pmlogger) WaitRecord(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if done, err := p.Exited(); done {
			t.Fatalf("pmlogger exited: %v\n%s", err, p.LogText())
		}
		if a, err := archive.Open(p.Base); err == nil {
			r := a.NewReader(archive.ReaderOptions{})
			ok := r.Next()
			r.Close()
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record from pmlogger in 15s\n%s", p.LogText())
		}
	}
}
