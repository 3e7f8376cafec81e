package adapter

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// DefaultStallTimeout is how long a request body or a response may make no
// progress before the connection is dropped: the default remote_timeout of
// a Prometheus client, which gives up by then anyway.
const DefaultStallTimeout = time.Minute

// stallChunk is the most written under one deadline: a large response
// (a SAMPLES body is written in one piece) must keep moving, not arrive
// whole within the timeout.
const stallChunk = 256 << 10

// WithStallTimeout drops clients that stop reading or sending. The server
// has no WriteTimeout or ReadTimeout: a streamed remote read may rightly
// take as long as the client's remote_timeout, and a query longer still.
// Without a bound, though, a client that stops reading its response (or
// sends its request body a byte a minute) holds a handler, its memory and,
// for remote read, one of the --query.max-concurrency slots forever; a few
// such clients lock everyone else out. So every read of the request body
// and every write (of at most 256 KiB) or flush of the response gets its
// own deadline, d from its start: the request fails only when the client
// makes no progress for d. d <= 0 returns h unchanged.
func WithStallTimeout(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// A deadline left by the previous request on this connection.
		_ = rc.SetWriteDeadline(time.Time{})
		sw := &stallWriter{ResponseWriter: w, rc: rc, d: d}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &stallBody{ReadCloser: r.Body, w: sw}
		}
		h.ServeHTTP(sw, r)
		// net/http writes what is still buffered after the handler returns.
		_ = rc.SetWriteDeadline(time.Now().Add(d))
	})
}

type stallWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	d       time.Duration
	reading atomic.Bool // a body read deadline is set
}

// readDone clears the body's read deadline once the request is read (or
// the response begins): left set, it would make net/http's background read
// of an idle connection fail and cancel the request's context.
func (w *stallWriter) readDone() {
	if w.reading.Swap(false) {
		_ = w.rc.SetReadDeadline(time.Time{})
	}
}

func (w *stallWriter) Write(b []byte) (int, error) {
	w.readDone()
	n := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), stallChunk)]
		// ErrNotSupported (a writer without a connection, as in tests)
		// leaves writes without a deadline.
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
		m, err := w.ResponseWriter.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// FlushError is what http.ResponseController.Flush calls.
func (w *stallWriter) FlushError() error {
	w.readDone()
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.rc.Flush()
}

// Flush keeps http.Flusher for code that asserts it.
func (w *stallWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type stallBody struct {
	io.ReadCloser
	w *stallWriter
}

func (b *stallBody) Read(p []byte) (int, error) {
	b.w.reading.Store(true)
	_ = b.w.rc.SetReadDeadline(time.Now().Add(b.w.d))
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.w.readDone()
	}
	return n, err
}
