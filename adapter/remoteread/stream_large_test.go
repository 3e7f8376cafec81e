package remoteread

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

// TestStreamLargeResponse covers a response beyond streamBuffer: frames go
// out while later series are still being read, and the client still gets
// every series whole, in order.
func TestStreamLargeResponse(t *testing.T) {
	const n, samples = 300, 20000
	st := &fakeStorage{series: manySeries(n, samples)}
	h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
	r := httptest.NewRequest(http.MethodPost, ReadPath,
		bytes.NewReader(encode(t, readRequest(streamedFirst, query(0, 1e12, eq("__name__", "m"))))))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	if w.Body.Len() <= streamBuffer {
		t.Fatalf("response of %d bytes does not exceed the %d byte buffer; the test is too small", w.Body.Len(), streamBuffer)
	}
	frames, err := ReadChunkedFrames(bytes.NewReader(w.Body.Bytes()), 50e6)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != n {
		t.Fatalf("%d frames, want %d", len(frames), n)
	}
	total := 0
	for i, f := range frames {
		if len(f.ChunkedSeries) != 1 {
			t.Fatalf("frame %d has %d series", i, len(f.ChunkedSeries))
		}
		for _, c := range f.ChunkedSeries[0].Chunks {
			total += int(c.Data[0])<<8 | int(c.Data[1])
		}
	}
	if total != n*samples {
		t.Errorf("%d samples, want %d", total, n*samples)
	}
}
