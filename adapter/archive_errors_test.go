package adapter

import (
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// unreadable replaces an archive file by a directory of the same name:
// opening it fails with "not a regular file", even for root (chmod 000
// would not stop a test run as root).
func unreadable(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
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

// TestUnreadableArchiveIsSkipped is the errors policy (README, Grafana,
// Errors): an archive that cannot be read is reported and skipped and the
// rest is served. Two archives of demo-db1 become unreadable after the
// set was opened: the .meta of 2026-11-18 (the archive cannot be opened)
// and the data volume of 2026-11-19 (found only while reading records).
// query_range answers 200 with what could be read and a warning naming each
// file; remote read (no warnings in its protocol) answers 200 with the same
// data, logs the warnings, and /status shows both archives' problems.
// demo-web1 is served exactly as from the intact set, and demo-db1 from
// its readable archives.
func TestUnreadableArchiveIsSkipped(t *testing.T) {
	dir := t.TempDir()
	pcptest.CopyDemo(t, dir)
	logs := &pcptest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	set := pcptest.OpenSet(t, multiarchive.Options{Logger: log}, dir)
	meta := filepath.Join(dir, "demo-db1", "20261118.meta.xz")
	vol := filepath.Join(dir, "demo-db1", "20261119.0.xz")
	unreadable(t, meta)
	unreadable(t, vol)
	st := translate.New(set, translate.Options{Logger: log})
	intact := demoStorage(t)

	// The window ends before the newest archives' known ends, so no query
	// rescans the directory (which would skip the broken archive instead).
	start, end := "2026-11-18T00:00:30Z", "2026-11-20T06:00:30Z"
	goodFrom := time.Date(2026, 11, 19, 12, 30, 0, 0, time.UTC) // 20261119.12.30 on
	params := url.Values{"query": {"kernel_all_load"}, "start": {start}, "end": {end}, "step": {"300"}}

	t.Run("query_range", func(t *testing.T) {
		api, m := newAPI(t, st, st, nil)
		r := apiGet(t, api, "/api/v1/query_range", params)
		if r.code != 200 || r.env.Status != "success" {
			t.Fatalf("status %d, want 200: %s", r.code, r.body)
		}
		warnings := strings.Join(r.env.Warnings, "\n")
		t.Logf("warnings: %s", warnings)
		for _, f := range []string{meta, vol} {
			if !strings.Contains(warnings, f) {
				t.Errorf("no warning names %s: %q", f, r.env.Warnings)
			}
		}
		if got := metricValue(t, m.Errors.WithLabelValues(handlerQueryRange, errKindInternal)); got != 0 {
			t.Errorf("counted as %v internal errors", got)
		}
		var got, want matrixResult
		r.data(t, &got)
		ref, _ := newAPI(t, intact, intact, nil)
		apiGet(t, ref, "/api/v1/query_range", params).data(t, &want)
		wantBy := map[string][][2]any{}
		for _, s := range want.Result {
			wantBy[labels.FromMap(s.Metric).String()] = s.Values
		}
		hosts := map[string]int{}
		for _, s := range got.Result {
			key := labels.FromMap(s.Metric).String()
			host := s.Metric["hostname"]
			hosts[host]++
			w := wantBy[key]
			if host == "demo-db1" {
				// Only what the readable archives hold.
				var kept [][2]any
				for _, p := range w {
					if time.Unix(int64(p[0].(float64)), 0).After(goodFrom) {
						kept = append(kept, p)
					}
				}
				w = kept
			}
			if len(w) == 0 {
				t.Errorf("%s: nothing to compare", key)
			}
			if !slices.Equal(s.Values, w) {
				t.Errorf("%s: %d points, want %d (%v... against %v...)", key, len(s.Values), len(w), head(s.Values), head(w))
			}
		}
		if hosts["demo-db1"] != 3 || hosts["demo-web1"] != 3 {
			t.Errorf("series by host %v, want 3 of each", hosts)
		}
	})

	t.Run("remote read", func(t *testing.T) {
		m, err := NewMetrics(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := NewReadHandler(st, DefaultReadOptions(), log, m)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := NewReadHandler(intact, DefaultReadOptions(), nil, refMetrics(t))
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
		if got := metricValue(t, m.Errors.WithLabelValues(handlerRead, errKindInternal)); got != 0 {
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
	problems := map[string]string{}
	for _, h := range set.Status().Hosts {
		for _, a := range h.Archives {
			if a.Problem != "" {
				problems[filepath.Base(a.Path)] = a.Problem
			}
		}
	}
	if len(problems) != 2 || !strings.Contains(problems["20261118"], meta) || !strings.Contains(problems["20261119"], vol) {
		t.Errorf("status problems %v, want 20261118 naming %s and 20261119 naming %s", problems, meta, vol)
	}
}

func head(p [][2]any) [][2]any { return p[:min(len(p), 2)] }

// refMetrics keeps the reference handler's requests out of the counts the
// test checks.
func refMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
