package main

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// libpcpSeries holds libpcp's values of one metric instance, by ms.
type libpcpSeries struct {
	t []int64
	v []float64
}

// libpcpData is what libpcp reads from one archive or archive set: numeric
// samples by "name/instname" and the <mark> times, in ms.
type libpcpData struct {
	series map[string]*libpcpSeries
	marks  []int64
	first  int64
	last   int64
}

func loadLibpcp(t *testing.T, dump string) *libpcpData {
	t.Helper()
	lines, err := pcptest.ReadDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	d := &libpcpData{series: map[string]*libpcpSeries{}, first: math.MaxInt64, last: math.MinInt64}
	for _, l := range lines {
		ms := l.T / 1e6
		if l.Mark {
			d.marks = append(d.marks, ms)
			continue
		}
		if l.End || l.Name == nil {
			continue
		}
		var v float64
		switch l.Type {
		case "32", "64", "U32", "U64", "FLOAT", "DOUBLE":
			f, err := strconv.ParseFloat(string(l.V), 64)
			if err != nil {
				f, err = pcptest.ParseFloat(l.V)
			}
			if err != nil {
				t.Fatal(err)
			}
			v = f
		default:
			continue
		}
		k := *l.Name
		if l.IName != nil {
			k += "/" + *l.IName
		}
		s := d.series[k]
		if s == nil {
			s = &libpcpSeries{}
			d.series[k] = s
		}
		if n := len(s.t); n > 0 && s.t[n-1] == ms {
			continue
		}
		s.t, s.v = append(s.t, ms), append(s.v, v)
		d.first, d.last = min(d.first, ms), max(d.last, ms)
	}
	return d
}

// at is the value an instant query sees at ms t: the latest sample within
// the lookback window, unless a <mark> (a staleness marker) lies between.
// leftOpen is Prometheus 3's (t-lookback, t] window; 2.x uses [t-lookback, t].
func (d *libpcpData) at(key string, t, lookback int64, leftOpen bool) (float64, bool) {
	s := d.series[key]
	if s == nil {
		return 0, false
	}
	i := sort.Search(len(s.t), func(i int) bool { return s.t[i] > t }) - 1
	if i < 0 {
		return 0, false
	}
	st := s.t[i]
	if t-st > lookback || leftOpen && t-st == lookback {
		return 0, false
	}
	for _, m := range d.marks {
		if m > st && m <= t {
			return 0, false
		}
	}
	return s.v[i], true
}

// startServer runs the server in this process over paths (startLogged:
// a warn-level log kept in memory, column tables in a scratch cache
// directory) and returns its base URL.
func startServer(t *testing.T, paths ...string) string {
	t.Helper()
	return startLogged(t, append([]string{"--log.level=warn"}, paths...)...).base
}

// servedSamples reads pcp_remote_read_samples_served_total for a response
// type from our /metrics.
func servedSamples(t *testing.T, base, respType string) float64 {
	t.Helper()
	return metricSum(t, base, "pcp_remote_read_samples_served_total", `response_type="`+respType+`"`)
}

func parseSample(t *testing.T, p []any) (int64, float64) {
	t.Helper()
	ts := p[0].(float64)
	v, err := strconv.ParseFloat(p[1].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(math.Round(ts * 1000)), v
}

func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }

// TestPrometheusRemoteRead runs real Prometheus servers (Debian's 2.42,
// which asks for SAMPLES, and a 3.x built from our prometheus module, which
// asks for STREAMED_XOR_CHUNKS) with remote_read pointed at pcp-remote-read,
// and checks their PromQL answers against libpcp's reading of the archives.
func TestPrometheusRemoteRead(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	root := pcptest.RepoRoot(t)
	merged := root + "/testdata/archives/v2-merged"
	multi := root + "/testdata/pcp-qa/dir-multi"
	base := startServer(t, merged+"/v2-merged", multi)
	dMerged := loadLibpcp(t, merged+"/oracle.jsonl.gz")
	dMulti := loadLibpcp(t, multi+"/oracle.jsonl.gz")

	proms := []struct {
		name     string
		bin      func(testing.TB) string
		leftOpen bool
		respType string // what this client asks for (docs/remote-read-protocol.md §11)
	}{
		{"prometheus2", pcptest.Prometheus2, false, "samples"},
		{"prometheus3", pcptest.Prometheus3, true, "streamed_xor_chunks"},
	}
	for _, p := range proms {
		t.Run(p.name, func(t *testing.T) {
			prom := pcptest.StartPrometheus(t, p.bin(t), base+"/api/v1/read", "")
			const lookback = 5 * 60 * 1000
			before := servedSamples(t, base, p.respType)
			defer func() {
				if after := servedSamples(t, base, p.respType); after <= before {
					t.Errorf("no samples served as %s (%v before, %v after)", p.respType, before, after)
				}
			}()

			t.Run("raw samples", func(t *testing.T) {
				// A range selector returns the raw samples: exactly libpcp's.
				for _, inst := range []string{"1 minute", "5 minute", "15 minute"} {
					end := dMerged.last + 1
					q := pcptest.Query(t, prom, url.Values{
						"query": {fmt.Sprintf(`kernel_all_load{instname=%q}[1h]`, inst)},
						"time":  {seconds(end)},
					})
					if len(q.Result) != 1 {
						t.Fatalf("%s: %d series", inst, len(q.Result))
					}
					want := dMerged.series["kernel.all.load/"+inst]
					got := q.Result[0].Values
					if len(got) != len(want.t) {
						t.Fatalf("%s: %d samples, libpcp has %d", inst, len(got), len(want.t))
					}
					for i, s := range got {
						ts, v := parseSample(t, s)
						if ts != want.t[i] || v != want.v[i] {
							t.Fatalf("%s sample %d: %d %v, libpcp %d %v", inst, i, ts, v, want.t[i], want.v[i])
						}
					}
				}
			})

			t.Run("instant query", func(t *testing.T) {
				at := dMerged.first + 2500
				q := pcptest.Query(t, prom, url.Values{"query": {"kernel_all_load"}, "time": {seconds(at)}})
				if len(q.Result) != 3 {
					t.Fatalf("%d series, want 3", len(q.Result))
				}
				for _, r := range q.Result {
					if r.Metric["hostname"] == "" || r.Metric["instid"] == "" {
						t.Errorf("labels %v lack hostname or instid", r.Metric)
					}
					_, v := parseSample(t, r.Value)
					want, ok := dMerged.at("kernel.all.load/"+r.Metric["instname"], at, lookback, p.leftOpen)
					if !ok || v != want {
						t.Errorf("%v: %v, libpcp %v (%v)", r.Metric, v, want, ok)
					}
				}
			})

			t.Run("range query across a mark", func(t *testing.T) {
				// Every step from before the first sample to past the last:
				// values follow libpcp, and nothing is drawn across the mark.
				start, end, step := dMerged.first-1000, dMerged.last+3000, int64(250)
				q := pcptest.Query(t, prom, url.Values{
					"query": {`kernel_all_load{instname="1 minute"}`},
					"start": {seconds(start)}, "end": {seconds(end)}, "step": {"0.25"},
				})
				if len(q.Result) != 1 {
					t.Fatalf("%d series", len(q.Result))
				}
				got := map[int64]float64{}
				for _, s := range q.Result[0].Values {
					ts, v := parseSample(t, s)
					got[ts] = v
				}
				n := 0
				for ts := start; ts <= end; ts += step {
					want, ok := dMerged.at("kernel.all.load/1 minute", ts, lookback, p.leftOpen)
					g, has := got[ts]
					if ok != has || ok && g != want {
						t.Errorf("step %d: got %v (%v), libpcp %v (%v)", ts, g, has, want, ok)
					}
					if !ok {
						n++
					}
				}
				if len(dMerged.marks) == 0 || n == 0 {
					t.Fatalf("test data should have a mark and steps without values")
				}
			})

			t.Run("regex and instname selectors", func(t *testing.T) {
				at := dMerged.last
				q := pcptest.Query(t, prom, url.Values{"query": {`{__name__=~"kernel_all_(load|pswitch)", instname!="15 minute"}`}, "time": {seconds(at)}})
				names := map[string]int{}
				for _, r := range q.Result {
					names[r.Metric["__name__"]]++
				}
				if names["kernel_all_load"] != 2 || names["kernel_all_pswitch"] != 1 || len(names) != 2 {
					t.Errorf("got %v", names)
				}
			})

			t.Run("rate across archives with gaps", func(t *testing.T) {
				// dir-multi: four archives of one host with gaps between.
				// rate() over a counter, checked against libpcp's values at
				// times inside each archive; nothing inside the gaps.
				key := "network.interface.out.bytes/wlp3s0"
				s := dMulti.series[key]
				if s == nil {
					t.Fatalf("testdata lost %s", key)
				}
				start, end := dMulti.first, dMulti.last+60000
				q := pcptest.Query(t, prom, url.Values{
					"query": {`rate(network_interface_out_bytes{instname="wlp3s0"}[3m])`},
					"start": {seconds(start)}, "end": {seconds(end)}, "step": {"20"},
				})
				if len(q.Result) != 1 {
					t.Fatalf("%d series", len(q.Result))
				}
				checked := 0
				for _, smp := range q.Result[0].Values {
					ts, v := parseSample(t, smp)
					want, ok := promRate(s, ts, 180000, p.leftOpen)
					if !ok {
						t.Errorf("rate at %d: got %v, libpcp's samples give none", ts, v)
						continue
					}
					if math.Abs(v-want) > 1e-9*math.Max(1, math.Abs(want)) {
						t.Errorf("rate at %d: got %v, want %v", ts, v, want)
					}
					checked++
				}
				if checked < 4 {
					t.Errorf("only %d rate points", checked)
				}
			})
		})
	}
}

// promRate computes PromQL's rate() over libpcp's samples, extrapolated as
// Prometheus does, for the window of rng ms ending at t.
func promRate(s *libpcpSeries, t, rng int64, leftOpen bool) (float64, bool) {
	lo := t - rng
	var ts []int64
	var vs []float64
	for i, st := range s.t {
		if st > t || st < lo || leftOpen && st == lo {
			continue
		}
		ts, vs = append(ts, st), append(vs, s.v[i])
	}
	if len(ts) < 2 {
		return 0, false
	}
	inc := 0.0
	for i := 1; i < len(vs); i++ {
		d := vs[i] - vs[i-1]
		if d < 0 {
			d = vs[i]
		}
		inc += d
	}
	sampled := float64(ts[len(ts)-1]-ts[0]) / 1000
	avg := sampled / float64(len(ts)-1)
	// Extrapolate to the window's edges when the first and last samples
	// are near them, else by half an interval. (The clamp at a counter's
	// zero point never applies to these byte counters.)
	toStart, toEnd := float64(ts[0]-lo)/1000, float64(t-ts[len(ts)-1])/1000
	if toStart >= avg*1.1 {
		toStart = avg / 2
	}
	if toEnd >= avg*1.1 {
		toEnd = avg / 2
	}
	ext := sampled + toStart + toEnd
	return inc * ext / sampled / (float64(rng) / 1000), true
}
