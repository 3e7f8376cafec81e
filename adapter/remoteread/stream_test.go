package remoteread

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// manySeries returns n small series named s0000, s0001, ….
func manySeries(n, samples int) []fakeSeries {
	out := make([]fakeSeries, n)
	for i := range out {
		out[i] = series(labels.FromStrings("__name__", "m", "i", fmt.Sprintf("s%04d", i)), floats(0, 1000, samples))
	}
	return out
}

// disconnectingWriter plays a client that goes away after the first frame:
// the request context is canceled, and writes fail from failAt on.
type disconnectingWriter struct {
	*httptest.ResponseRecorder
	cancel func()
	failAt int // 0: never fail
	writes int
	first  int // bytes in the first write
}

func (w *disconnectingWriter) Write(b []byte) (int, error) {
	w.writes++
	if w.failAt > 0 && w.writes >= w.failAt {
		return 0, syscall.EPIPE
	}
	n, err := w.ResponseRecorder.Write(b)
	if w.writes == 1 {
		w.first = n
		if w.cancel != nil {
			w.cancel()
		}
	}
	return n, err
}

func TestStreamStopsWhenClientGoes(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool
		failAt int
		// A canceled context with a live connection (e.g. a middleware
		// timeout) must end in a truncated frame; after a write error the
		// connection is dead and nothing more arrives.
		wantTruncated bool
	}{
		{"context canceled after the first write", true, 0, true},
		{"write fails on the second write", false, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Series large enough that the frames held back before the
			// first write are only some of them: the first write is the
			// held frames, then one write per frame.
			st := &fakeStorage{series: manySeries(50, 5000)}
			h, m := newTestHandler(t, st, adapter.DefaultReadOptions())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := httptest.NewRequestWithContext(ctx, http.MethodPost, ReadPath,
				bytes.NewReader(encode(t, readRequest(streamedFirst, query(0, 1e9, eq("__name__", "m"))))))
			w := &disconnectingWriter{ResponseRecorder: httptest.NewRecorder(), failAt: tc.failAt}
			if tc.cancel {
				w.cancel = cancel
			}
			h.ServeHTTP(w, r)

			if w.writes > 3 {
				t.Errorf("%d writes after the client went away after the first", w.writes)
			}
			held, _ := ReadChunkedFrames(bytes.NewReader(w.Body.Bytes()[:w.first]), 50e6)
			if len(held) < 2 || len(held) >= 50 {
				t.Fatalf("first write holds %d frames; the test wants some but not all of 50", len(held))
			}
			frames, err := ReadChunkedFrames(bytes.NewReader(w.Body.Bytes()), 50e6)
			if len(frames) != len(held) {
				t.Errorf("%d complete frames, want the %d of the first write", len(frames), len(held))
			}
			// The stream must not look complete to a client still reading.
			if tc.wantTruncated && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the partial stream: %v, want unexpected EOF", err)
			}
			if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerRead, errKindCanceled)); got != 1 {
				t.Errorf("errors{kind=canceled} = %v, want 1", got)
			}
			if got := pcptest.MetricValue(t, m.SeriesServed.WithLabelValues(handlerRead, responseTypeStreamed)); got != float64(len(held)) {
				t.Errorf("series served %v, want %d", got, len(held))
			}
		})
	}
}

// plainWriter hides http.Flusher, as a careless middleware does.
type plainWriter struct{ rec *httptest.ResponseRecorder }

func (w plainWriter) Header() http.Header         { return w.rec.Header() }
func (w plainWriter) Write(b []byte) (int, error) { return w.rec.Write(b) }
func (w plainWriter) WriteHeader(code int)        { w.rec.WriteHeader(code) }

func TestStreamWithoutFlusher(t *testing.T) {
	fixtures := manySeries(20, 5)
	h, _ := newTestHandler(t, &fakeStorage{series: fixtures}, adapter.DefaultReadOptions())
	rec := httptest.NewRecorder()
	h.ServeHTTP(plainWriter{rec}, httptest.NewRequest(http.MethodPost, ReadPath,
		bytes.NewReader(encode(t, readRequest(streamedFirst, query(0, 1e9, eq("__name__", "m")))))))
	got := decodeStreamed(t, rec)
	var wantSeries []decoded
	for _, f := range fixtures {
		wantSeries = append(wantSeries, want(0, f))
	}
	if !equalDecoded(got, wantSeries) {
		t.Fatalf("got %d series, want %d", len(got), len(wantSeries))
	}
}

// Over a real connection: the body arrives incrementally, and a client that
// hangs up after one frame does not leave the handler running.
func TestStreamOverHTTP(t *testing.T) {
	fixtures := manySeries(2000, 60)
	h, m := newTestHandler(t, &fakeStorage{series: fixtures}, adapter.DefaultReadOptions())
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	defer srv.Close()
	body := encode(t, readRequest(streamedFirst, query(0, 1e9, eq("__name__", "m"))))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+ReadPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ContentTypeStreamed {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	fr := NewChunkedFrameReader(resp.Body, 50e6)
	f, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.ChunkedSeries[0].Labels; len(got) != 2 || got[1].Value != "s0000" {
		t.Fatalf("first frame holds %v", got)
	}
	cancel()

	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still running 5s after the client went away")
	}
	served := pcptest.MetricValue(t, m.SeriesServed.WithLabelValues(handlerRead, responseTypeStreamed))
	t.Logf("%v of %d series written before the handler noticed", served, len(fixtures))
	if served == float64(len(fixtures)) {
		// Socket buffers may swallow the whole stream; then nothing was cut short.
		return
	}
	if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerRead, errKindCanceled)); got != 1 {
		t.Errorf("errors{kind=canceled} = %v, want 1", got)
	}
}

// One full exchange over HTTP as a 3.x client does it, for the real framing
// (Transfer-Encoding: chunked, flushes).
func TestStreamOverHTTPComplete(t *testing.T) {
	fixtures := manySeries(40, 300)
	h, _ := newTestHandler(t, &fakeStorage{series: fixtures}, adapter.DefaultReadOptions())
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+ReadPath, "application/x-protobuf",
		bytes.NewReader(encode(t, readRequest(streamedFirst, query(0, 1e9, eq("__name__", "m"))))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	frames, err := ReadChunkedFrames(resp.Body, 50e6)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != len(fixtures) {
		t.Fatalf("%d frames, want %d", len(frames), len(fixtures))
	}
	for i, f := range frames {
		if len(f.ChunkedSeries) != 1 || len(f.ChunkedSeries[0].Chunks) != 3 || f.ChunkedSeries[0].Chunks[0].Type != prompb.Chunk_XOR {
			t.Fatalf("frame %d: unexpected shape %v", i, f.ChunkedSeries)
		}
	}
}

// TestStreamFailsMidway: a series that cannot be framed after the stream
// has started (its chunks are found damaged as they are read) ends the
// stream cut short right after the frames of the series before it, all of
// them and in order, however far ahead of the writes the frames were made.
// One that fails before anything is written is an HTTP error.
func TestStreamFailsMidway(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bad     int  // the series whose chunks are damaged
		started bool // the stream started before it
	}{
		{"after the stream started", 40, true},
		{"before anything was written", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs []storage.ChunkSeries
			for i, s := range manySeries(50, 5000) {
				if i != tc.bad {
					cs = append(cs, storage.NewListChunkSeriesFromSamples(s.lset, s.batches...))
					continue
				}
				cs = append(cs, &storage.ChunkSeriesEntry{Lset: s.lset, ChunkIteratorFn: func(chunks.Iterator) chunks.Iterator {
					return storage.NewListChunkSeriesIterator(chunks.Meta{MinTime: 1, MaxTime: 2})
				}})
			}
			h, m := newTestHandler(t, &fakeStorage{chunkSeries: cs}, adapter.DefaultReadOptions())
			r := httptest.NewRequest(http.MethodPost, ReadPath,
				bytes.NewReader(encode(t, readRequest(streamedFirst, query(0, 1e9, eq("__name__", "m"))))))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if !tc.started {
				checkErrorResponse(t, rec, 500, "has no data")
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: the stream starts before series %d", rec.Code, tc.bad)
			}
			frames, err := ReadChunkedFrames(bytes.NewReader(rec.Body.Bytes()), 50e6)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the stream: %v, want unexpected EOF (a stream cut short)", err)
			}
			if len(frames) != tc.bad {
				t.Fatalf("%d frames, want the %d series before the damaged one", len(frames), tc.bad)
			}
			for i, f := range frames {
				want := fmt.Sprintf("s%04d", i)
				if got := labelValue(f.ChunkedSeries[0].Labels, "i"); got != want {
					t.Fatalf("frame %d is series %s, want %s", i, got, want)
				}
			}
			if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerRead, errKindInternal)); got != 1 {
				t.Errorf("errors{kind=internal} = %v, want 1", got)
			}
		})
	}
}

func labelValue(ls []prompb.Label, name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}
