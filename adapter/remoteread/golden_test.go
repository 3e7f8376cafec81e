package remoteread

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

var update = flag.Bool("update", false, "rewrite the golden files in adapter/remoteread/testdata")

// goldenSeries are fixed, deterministic fixtures: a regular 1-minute gauge
// long enough to be re-chunked, and a short irregular one.
func goldenSeries() []fakeSeries {
	load := make([]chunks.Sample, 150)
	for i := range load {
		t := int64(1_700_000_000_000 + i*60_000)
		load[i] = sample{t: t, f: 1 + math.Sin(float64(i)/10)}
	}
	return []fakeSeries{
		series(labels.FromStrings("__name__", "kernel_all_load", "hostname", "h2", "instance", "1 minute"), load),
		series(labels.FromStrings("__name__", "kernel_all_load", "hostname", "h1", "instance", "1 minute"),
			[]chunks.Sample{
				sample{t: 1_700_000_000_000, f: 0.25},
				sample{t: 1_700_000_061_234, f: 0.5},
				sample{t: 1_700_000_125_000, f: math.Inf(1)},
			}),
		series(labels.FromStrings("__name__", "mem_util_free", "hostname", "h1"), floats(1_700_000_000_000, 60_000, 3)),
	}
}

// goldenQuery is what a 3.x client sends for rate(kernel_all_load{hostname=~"h.*"}[5m]).
func goldenQuery() *prompb.Query {
	q := query(1_700_000_000_000-300_000+1, 1_700_000_000_000+150*60_000,
		eq("__name__", "kernel_all_load"), matcher(prompb.LabelMatcher_RE, "hostname", "h.*"))
	q.Hints = &prompb.ReadHints{Func: "rate", RangeMs: 300_000, StartMs: 1_700_000_000_000 - 300_000, EndMs: 1_700_000_000_000 + 150*60_000}
	return q
}

// TestGolden replays committed request bytes and compares the response byte
// for byte, so any change of the wire output is deliberate. The request
// files may be replaced by captures from a real Prometheus; regenerate the
// responses with `go test ./adapter/remoteread -update`.
func TestGolden(t *testing.T) {
	tests := []struct {
		name     string
		accepted []prompb.ReadRequest_ResponseType
		response string
		streamed bool
	}{
		{"samples", nil, "samples.response.snappy", false},
		{"streamed", streamedFirst, "streamed.response.frames", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqPath := filepath.Join("testdata", tc.name+".request.snappy")
			respPath := filepath.Join("testdata", tc.response)
			if *update {
				writeFile(t, reqPath, encode(t, readRequest(tc.accepted, goldenQuery())))
			}
			reqBody, err := os.ReadFile(reqPath)
			if err != nil {
				t.Fatalf("%v (run go test ./adapter/remoteread -update to create it)", err)
			}
			h, _ := newTestHandler(t, &fakeStorage{series: goldenSeries()}, adapter.DefaultReadOptions())
			rec := post(h, reqBody)
			if *update {
				writeFile(t, respPath, rec.Body.Bytes())
			}
			wantBody, err := os.ReadFile(respPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec.Body.Bytes(), wantBody) {
				t.Fatalf("response differs from %s (%d bytes, want %d); if intended, run go test ./adapter/remoteread -update",
					respPath, rec.Body.Len(), len(wantBody))
			}

			// The golden bytes must also mean what we think they mean.
			var got []decoded
			if tc.streamed {
				got = decodeStreamed(t, rec)
			} else {
				got = fromResponse(decodeSamples(t, rec))
			}
			fx := goldenSeries()
			if want := []decoded{want(0, fx[1]), want(0, fx[0])}; !equalDecoded(got, want) {
				t.Fatalf("golden response decodes to %v, want %v", names(got), names(want))
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
