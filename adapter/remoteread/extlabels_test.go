package remoteread

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// TestExternalLabels reads the demo set through a handler with external
// labels and through one without, in both response types: every series
// carries the external labels on top of its own, in sorted order, and a
// matcher on an external label's name passes the query whole or selects
// nothing, by the label's value. A query of external-label matchers only
// selects every series. Query indexes stay right when one query of a
// request selects nothing.
func TestExternalLabels(t *testing.T) {
	st := pcptest.Storage(t, multiarchive.Options{}, "../../testdata/demo")
	ext := labels.FromStrings("shard", "a", "zone", "z1")
	opts := adapter.DefaultReadOptions()
	opts.ExternalLabels = ext
	h, err := NewReadHandler(st, opts, nil, refMetrics(t))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewReadHandler(st, adapter.DefaultReadOptions(), nil, refMetrics(t))
	if err != nil {
		t.Fatal(err)
	}
	t1, _ := time.Parse(time.RFC3339, "2026-11-18T12:00:00Z")
	from, to := t1.UnixMilli(), t1.Add(10*time.Minute).UnixMilli()
	load := eq("__name__", "kernel_all_load")

	read := func(h http.Handler, types []prompb.ReadRequest_ResponseType, qs ...*prompb.Query) []decoded {
		t.Helper()
		rec := postRead(t, h, readRequest(types, qs...))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if types[0] == prompb.ReadRequest_SAMPLES {
			return fromResponse(decodeSamples(t, rec))
		}
		return decodeStreamed(t, rec)
	}
	// withExt is what the handler with external labels must answer, made
	// from the plain handler's answer: the labels added, and sorted.
	withExt := func(ds []decoded, query int64) []decoded {
		out := make([]decoded, len(ds))
		for i, d := range ds {
			b := labels.NewBuilder(d.lset)
			ext.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
			out[i] = decoded{query: query, lset: b.Labels(), samples: d.samples}
		}
		sortDecoded(out)
		return out
	}

	for _, types := range [][]prompb.ReadRequest_ResponseType{samplesOnly, streamedFirst} {
		name := "samples"
		if types[0] == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
			name = "streamed"
		}
		t.Run(name, func(t *testing.T) {
			plain := read(ref, types, query(from, to, load))
			if len(plain) < 2 {
				t.Fatalf("kernel_all_load: %d series", len(plain))
			}
			want := withExt(plain, 0)
			for _, c := range []struct {
				name string
				ms   []*prompb.LabelMatcher
				none bool
			}{
				{"no external matcher", nil, false},
				{"equal", []*prompb.LabelMatcher{eq("shard", "a")}, false},
				{"regexp and not-equal", []*prompb.LabelMatcher{matcher(prompb.LabelMatcher_RE, "shard", "a|b"), matcher(prompb.LabelMatcher_NEQ, "zone", "z2")}, false},
				{"other value", []*prompb.LabelMatcher{eq("shard", "b")}, true},
				{"not equal", []*prompb.LabelMatcher{matcher(prompb.LabelMatcher_NEQ, "shard", "a")}, true},
				{"one of two fails", []*prompb.LabelMatcher{eq("shard", "a"), eq("zone", "z2")}, true},
			} {
				got := read(h, types, query(from, to, append([]*prompb.LabelMatcher{load}, c.ms...)...))
				switch {
				case c.none && len(got) != 0:
					t.Errorf("%s: %d series, want none", c.name, len(got))
				case !c.none && !equalDecoded(got, want):
					t.Errorf("%s: got %v, want %v", c.name, names(got), names(want))
				}
			}

			// Only external matchers: every series, as {__name__=~".+"}.
			every := withExt(read(ref, types, query(from, from+60_000, matcher(prompb.LabelMatcher_RE, "__name__", ".+"))), 0)
			if got := read(h, types, query(from, from+60_000, eq("shard", "a"))); len(every) < 10 || !equalDecoded(got, every) {
				t.Errorf(`{shard="a"}: %d series, want all %d`, len(got), len(every))
			}

			// Three queries, the middle one selecting nothing.
			got := read(h, types, query(from, to, load), query(from, to, load, eq("shard", "b")), query(from, to, load))
			want3 := append(withExt(plain, 0), withExt(plain, 2)...)
			if !equalDecoded(got, want3) {
				t.Errorf("three queries: got %d series %v, want %d", len(got), names(got), len(want3))
			}
		})
	}
}

// sortDecoded sorts series by query, then labels, as a response has them.
func sortDecoded(ds []decoded) {
	slices.SortStableFunc(ds, func(a, b decoded) int {
		if c := cmp.Compare(a.query, b.query); c != 0 {
			return c
		}
		return labels.Compare(a.lset, b.lset)
	})
}

// TestCheckExternalLabels: the names and values refused, each with a
// message naming it.
func TestCheckExternalLabels(t *testing.T) {
	if err := adapter.CheckExternalLabels(labels.FromStrings("shard", "a", "_site", "x 1")); err != nil {
		t.Errorf("valid labels refused: %v", err)
	}
	for _, bad := range [][2]string{{"__name__", "x"}, {"__shard", "x"}, {"1shard", "x"}, {"sh-ard", "x"}, {"shard", ""}} {
		err := adapter.CheckExternalLabels(labels.FromStrings(bad[0], bad[1]))
		if err == nil {
			t.Errorf("%s=%q accepted", bad[0], bad[1])
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(bad[0])) {
			t.Errorf("%s=%q: %q does not name the label", bad[0], bad[1], err)
		}
	}
	opts := adapter.DefaultReadOptions()
	opts.ExternalLabels = labels.FromStrings("shard", "")
	if _, err := NewReadHandler(pcptest.Storage(t, multiarchive.Options{}, "../../testdata/demo"), opts, nil, nil); err == nil {
		t.Error("handler built with an empty external label value")
	}
}
