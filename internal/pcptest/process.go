package pcptest

import (
	"bytes"
	"os"
	"sync"
	"time"
)

// LogBuffer collects a log that several goroutines write (a server and its
// handlers, a Set); safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Terminate sends p sig and waits for exited to be closed; after grace it
// kills p, waits again and reports true.
func Terminate(p *os.Process, exited <-chan struct{}, sig os.Signal, grace time.Duration) (killed bool) {
	p.Signal(sig)
	select {
	case <-exited:
		return false
	case <-time.After(grace):
		p.Kill()
		<-exited
		return true
	}
}
