package remoteread

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// TestUnreadableArchiveIsSkipped is the errors policy (README, Grafana,
// Errors) for remote read: an archive that cannot be read is reported and
// skipped and the rest is served. Two archives of demo-db1 become
// unreadable after the set was opened (pcptest.UnreadableDemo): the .meta
// of 2026-11-18 (the archive cannot be opened) and the data volume of
// 2026-11-19 (found only while reading records).
// Remote read (no warnings in its protocol) answers 200 with the data
// that could be read, logs the warnings, and /status shows both archives'
// problems (the query API has the same test in adapter/promapi).
// demo-web1 is served exactly as from the intact set, and demo-db1 from
// its readable archives.
func TestUnreadableArchiveIsSkipped(t *testing.T) {
	u := pcptest.NewUnreadableDemo(t)
	st, log, logs, meta, vol := u.Storage, u.Log, u.Logs, u.Meta, u.Vol
	start, end, goodFrom := u.Start, u.End, u.GoodFrom
	intact := pcptest.Storage(t, multiarchive.Options{}, "../../testdata/demo")

	t.Run("remote read", func(t *testing.T) {
		m, err := adapter.NewMetrics(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := NewReadHandler(st, adapter.DefaultReadOptions(), log, m)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := NewReadHandler(intact, adapter.DefaultReadOptions(), nil, refMetrics(t))
		if err != nil {
			t.Fatal(err)
		}
		t1, _ := time.Parse(time.RFC3339, start)
		t2, _ := time.Parse(time.RFC3339, end)
		q := query(t1.UnixMilli(), t2.UnixMilli(), eq("__name__", "kernel_all_load"))
		for _, types := range [][]prompb.ReadRequest_ResponseType{samplesOnly, streamedFirst} {
			var got, want []decoded
			if rec := postRead(t, h, readRequest(types, q)); types[0] == prompb.ReadRequest_SAMPLES {
				got, want = fromResponse(decodeSamples(t, rec)), fromResponse(decodeSamples(t, postRead(t, ref, readRequest(types, q))))
			} else {
				got, want = decodeStreamed(t, rec), decodeStreamed(t, postRead(t, ref, readRequest(types, q)))
			}
			wantBy := samplesOf(want)
			if len(got) != 6 {
				t.Errorf("%v: %d series, want 6: %v", types[0], len(got), names(got))
			}
			for key, ss := range samplesOf(got) {
				w := wantBy[key]
				if strings.Contains(key, "demo-db1") {
					var kept []prompb.Sample
					for _, s := range w {
						if s.Timestamp >= goodFrom.UnixMilli() {
							kept = append(kept, s)
						}
					}
					w = kept
				}
				if len(w) == 0 {
					t.Errorf("%v %s: nothing to compare", types[0], key)
				}
				if !sameSamples(ss, w) {
					t.Errorf("%v %s: %d samples, want %d", types[0], key, len(ss), len(w))
				}
			}
		}
		if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerRead, errKindInternal)); got != 0 {
			t.Errorf("counted as %v internal errors", got)
		}
		text := logs.String()
		for _, f := range []string{meta, vol} {
			if !strings.Contains(text, f) {
				t.Errorf("the log does not name %s:\n%s", f, text)
			}
		}
	})

	// Both archives carry their problem on /status (and /metrics).
	u.CheckProblems(t)
}

// samplesOf keys a remote-read answer's samples by series, staleness
// markers compared by their bits.
func samplesOf(ds []decoded) map[string][]prompb.Sample {
	out := map[string][]prompb.Sample{}
	for _, d := range ds {
		out[d.lset.String()] = d.samples
	}
	return out
}

func sameSamples(a, b []prompb.Sample) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Timestamp != b[i].Timestamp || math.Float64bits(a[i].Value) != math.Float64bits(b[i].Value) {
			return false
		}
	}
	return true
}

// refMetrics keeps the reference handler's requests out of the counts the
// test checks.
func refMetrics(t *testing.T) *adapter.Metrics {
	t.Helper()
	m, err := adapter.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
