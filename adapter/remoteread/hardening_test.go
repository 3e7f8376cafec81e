package remoteread

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

func TestRemoteReadContentType(t *testing.T) {
	h, _ := newTestHandler(t, &fakeStorage{}, adapter.DefaultReadOptions())
	body := encode(t, readRequest(nil, query(0, 1, eq("__name__", "x"))))
	for ct, want := range map[string]int{
		"":                                  200,
		"application/x-protobuf":            200,
		"application/octet-stream":          200,
		"application/json":                  415,
		"text/plain; charset=utf-8":         415,
		"multipart/form-data":               415,
		"application/x-www-form-urlencoded": 415,
	} {
		r := httptest.NewRequest(http.MethodPost, ReadPath, strings.NewReader(string(body)))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("%q: %d, want %d: %s", ct, rec.Code, want, rec.Body)
		}
	}
}
