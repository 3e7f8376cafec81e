package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

type bench struct {
	t   *tools
	ci  *corpusInfo
	ti  *tsdbInfo
	o   options
	res *results
	// answers holds each answer of the serial measurements in turn.
	answers *answerBuf

	metric     string // the "one metric" of the queries
	weekStart  int64  // ms
	weekEnd    int64  // ms, inclusive
	qDay       rrQuery
	qWeek      rrQuery
	qHour      rrQuery
	qDayAll    rrQuery   // every series over the newest (plain) day
	rangesOne  []rrQuery // one metric over 1x, 4x, 16x
	rangesAll  []rrQuery // every series over 1x, 4x, 16x
	promqlExpr string
	profileReq map[string]func(base string) // row profile key -> one request
	tables     *tablesInfo                  // nil: the server has no --cache.dir
	plain      *plainFigures                // libpcp and the pread ceiling over the plain day (decode)
}

// row is one line of the results table. Ratio is ours / baseline; Higher
// says whether a higher value is better (rates) or lower (times, bytes).
type row struct {
	Section  string  `json:"section"`
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Ours     float64 `json:"ours"`
	Base     float64 `json:"baseline"`
	BaseName string  `json:"baseline_name"`
	Ratio    float64 `json:"ratio"`
	Higher   bool    `json:"higher_is_better,omitempty"`
	Target   string  `json:"target,omitempty"` // on the ratio
	Pass     *bool   `json:"pass,omitempty"`
	Check    string  `json:"check,omitempty"`
	Profile  string  `json:"profile,omitempty"`
}

func (b *bench) add(r *row) {
	if r.Base != 0 {
		r.Ratio = r.Ours / r.Base
	}
	// Targets are on the ratio ("<= 1"), or on ours itself ("ours <= 1.2").
	if f := strings.Fields(r.Target); len(f) >= 2 && r.Base != 0 && r.Ours > 0 {
		v := r.Ratio
		if f[0] == "ours" && len(f) == 3 {
			v, f = r.Ours, f[1:]
		}
		if lim, err := strconv.ParseFloat(f[1], 64); err == nil {
			ok := false
			switch f[0] {
			case ">=":
				ok = v >= lim
			case "<=":
				ok = v <= lim
			}
			r.Pass = &ok
		}
	}
	b.res.Rows = append(b.res.Rows, r)
	logf("%-12s %-60s ours %10.4g  base %10.4g  ratio %6.3g %s %s", r.Section, r.Name, r.Ours, r.Base, r.Ratio, r.Target, r.Check)
}

func (b *bench) detail(k string, v any) {
	if b.res.Details == nil {
		b.res.Details = map[string]any{}
	}
	b.res.Details[k] = v
}

func eq(name, value string) *prompb.LabelMatcher {
	return &prompb.LabelMatcher{Type: prompb.LabelMatcher_EQ, Name: name, Value: value}
}

func (b *bench) defineQueries() {
	b.metric = "kernel_percpu_cpu_user"
	b.weekStart = b.ci.Spec.Start * 1000
	b.weekEnd = (b.ci.Spec.Start+int64(b.ci.Spec.Days)*86400)*1000 - 1
	const h = 3600 * 1000
	one := []*prompb.LabelMatcher{eq("__name__", b.metric)}
	all := []*prompb.LabelMatcher{eq("hostname", b.ci.Spec.Host)}
	b.qDay = rrQuery{Key: "day", Name: "one metric, 1 day", Matchers: one, Start: b.weekEnd + 1 - 24*h, End: b.weekEnd}
	b.qWeek = rrQuery{Key: "week", Name: "one metric, 7 days", Matchers: one, Start: b.weekStart, End: b.weekEnd}
	b.qHour = rrQuery{Key: "hour", Name: "all series, 1 hour", Matchers: all, Start: b.weekEnd + 1 - h, End: b.weekEnd}
	b.qDayAll = rrQuery{Key: "day-all", Name: "all series, 1 day", Matchers: all, Start: b.weekEnd + 1 - 24*h, End: b.weekEnd}
	for _, r := range []struct {
		x     string
		hours int64
	}{{"1x", 6}, {"4x", 24}, {"16x", 96}} {
		b.rangesOne = append(b.rangesOne, rrQuery{Key: "one-" + r.x, Name: fmt.Sprintf("one metric, %s (%d h)", r.x, r.hours),
			Matchers: one, Start: b.weekEnd + 1 - r.hours*h, End: b.weekEnd})
		b.rangesAll = append(b.rangesAll, rrQuery{Key: "all-" + r.x, Name: fmt.Sprintf("all series, %s (%d h)", r.x, r.hours),
			Matchers: all, Start: b.weekEnd + 1 - r.hours*h, End: b.weekEnd})
	}
	b.promqlExpr = "rate(" + b.metric + "[5m])"
	b.profileReq = map[string]func(string){}
}

func typeName(streamed bool) string {
	if streamed {
		return "STREAMED_XOR_CHUNKS"
	}
	return "SAMPLES"
}

// series runs one cold request against a fresh process, then warm
// repetitions (at most b.o.warm, within 60 s).
type coldWarm struct {
	Cold     rrResult   `json:"cold"`
	Warm     []rrResult `json:"warm"`
	Startup  float64    `json:"startup_seconds"`
	PeakRSS  int64      `json:"peak_rss_bytes"`
	IdleRSS  int64      `json:"idle_peak_rss_bytes"`
	WarmMed  float64    `json:"warm_median_seconds"`
	ErrCount int        `json:"errors"`
}

func (b *bench) measureRR(start func() (*server, error), q rrQuery, streamed bool) (*coldWarm, error) {
	b.coldStart()
	t0 := time.Now()
	s, err := start()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	cw := &coldWarm{Startup: time.Since(t0).Seconds(), IdleRSS: vmHWM(s.pid())}
	body := q.request(streamed)
	cw.Cold = remoteRead(s.base, q, streamed, body, b.answers, 10*time.Minute)
	if cw.Cold.Err != "" {
		cw.ErrCount++
	}
	for i, t0 := 0, time.Now(); b.moreWarm(i, t0); i++ {
		settle()
		r := remoteRead(s.base, q, streamed, body, b.answers, 10*time.Minute)
		if r.Err != "" {
			cw.ErrCount++
		}
		cw.Warm = append(cw.Warm, r)
	}
	cw.PeakRSS = vmHWM(s.pid())
	cw.WarmMed = medianSeconds(cw.Warm)
	return cw, nil
}

// moreWarm says whether to take warm repetition i (from 0) of a request
// whose repetitions started at t0: b.o.warm of them within 60 s, and more
// of a fast request, up to 5*b.o.warm within 2 s. A median of 5 requests
// of a few milliseconds can move past 1.0 with one slow stretch of a
// shared machine; both sides get the same rule.
func (b *bench) moreWarm(i int, t0 time.Time) bool {
	el := time.Since(t0)
	switch {
	case i == 0:
		return true
	case i < b.o.warm:
		return el < 60*time.Second
	default:
		return i < 5*b.o.warm && el < 2*time.Second
	}
}

// settle collects the harness's own garbage (the answers of the row before,
// decoded and compared) before a server starts, so that our collector does
// not run beside a single cold request on a 2-CPU machine, where it makes
// cold times swing by 2-4x from run to run. Warm repetitions settle too:
// after answers of 69 M samples, every other one takes 4-5 times as long,
// on both sides, while the harness collects the one before.
func settle() {
	runtime.GC()
}

// coldStart readies the machine for a fresh process's first request: the
// page cache holds the files it may read (the corpus, the TSDB, the run's
// column tables, and dirs), then the harness collects its garbage. The
// warming at the start of a run does not last through it on every
// machine: a kernel with DAMON's reclaim (as on this project's build
// machines) pages out file pages nobody read for a minute, and the cold
// request of the process that came minutes later read them from disk,
// whichever side it was.
func (b *bench) coldStart(dirs ...string) {
	warmPageCache(append([]string{b.ci.HostDir, b.ti.Dir, b.t.tablesDir}, dirs...)...)
	settle()
}

func medianSeconds(rs []rrResult) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.Seconds
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func compareRR(ours, theirs *coldWarm) string {
	all := append([]rrResult{ours.Cold}, ours.Warm...)
	for _, r := range append([]rrResult{theirs.Cold}, theirs.Warm...) {
		if r.Err != "" {
			return "baseline FAILED: " + truncate(r.Err, 120)
		}
	}
	for _, r := range all {
		if r.Err != "" {
			return "ours FAILED: " + truncate(r.Err, 120)
		}
		if c, tc := r.Content, theirs.Cold.Content; c.Samples != tc.Samples || c.Series != tc.Series {
			return fmt.Sprintf("MISMATCH: ours %v, TSDB %v", c, tc)
		} else if c.Checksum != tc.Checksum {
			return fmt.Sprintf("MISMATCH: %v but different timestamps or values", c)
		}
	}
	return "equal: " + ours.Cold.Content.String()
}

func (b *bench) startOurs(tag string, extra ...string) func() (*server, error) {
	return func() (*server, error) { return startOurs(b.t, b.ci, tag, extra...) }
}

func (b *bench) startTSDB(tag string) func() (*server, error) {
	return func() (*server, error) { return startProm(b.t, b.ti.Dir, emptyPromConfig, tag) }
}

// remoteRead: the three queries, both response types, cold and warm, ours
// against Prometheus 3.x serving the backfilled TSDB.
func (b *bench) remoteRead() error {
	details := map[string]any{}
	for _, q := range []rrQuery{b.qDay, b.qWeek, b.qHour} {
		for _, streamed := range []bool{false, true} {
			tn := typeName(streamed)
			logf("remote read: %s, %s", q.Name, tn)
			ours, err := b.measureRR(b.startOurs("rr"), q, streamed)
			if err != nil {
				return err
			}
			theirs, err := b.measureRR(b.startTSDB("rr"), q, streamed)
			if err != nil {
				return err
			}
			check := compareRR(ours, theirs)
			key := q.Key + "-" + tn
			b.profileReq[key] = b.rrProfileReq(q, streamed)
			base := "Prometheus 3 TSDB /api/v1/read"
			b.add(&row{Section: "remote read", Name: fmt.Sprintf("%s, %s, cold", q.Name, tn), Unit: "s",
				Ours: ours.Cold.Seconds, Base: theirs.Cold.Seconds, BaseName: base, Target: "<= 3", Check: check, Profile: key})
			b.add(&row{Section: "remote read", Name: fmt.Sprintf("%s, %s, warm", q.Name, tn), Unit: "s",
				Ours: ours.WarmMed, Base: theirs.WarmMed, BaseName: base, Target: "<= 1", Check: check, Profile: key})
			if !streamed {
				// Peak RSS of the process that gave the SAMPLES answers
				// above (the cold one and the warm repetitions), as the
				// range rows give it for streamed answers.
				b.add(&row{Section: "remote read", Name: fmt.Sprintf("%s, %s, peak RSS", q.Name, tn), Unit: "MiB",
					Ours: float64(ours.PeakRSS) / (1 << 20), Base: float64(theirs.PeakRSS) / (1 << 20), BaseName: base,
					Check: fmt.Sprintf("ours idle %.0f MiB, TSDB idle %.0f MiB; answer %.1f MB (ours), %.1f MB (TSDB)",
						float64(ours.IdleRSS)/(1<<20), float64(theirs.IdleRSS)/(1<<20), float64(ours.Cold.Bytes)/1e6, float64(theirs.Cold.Bytes)/1e6)})
			}
			if q.Key == b.qWeek.Key && streamed && b.tables != nil {
				fq := b.tables.FirstQuery
				c := "equal: " + fq.Content.String()
				if fq.Err != "" {
					c = "ours FAILED: " + truncate(fq.Err, 120)
				} else if fq.Content.Samples != theirs.Cold.Content.Samples || fq.Content.Checksum != theirs.Cold.Content.Checksum {
					c = fmt.Sprintf("MISMATCH: ours %v, TSDB %v", fq.Content, theirs.Cold.Content)
				}
				b.add(&row{Section: "remote read", Name: fmt.Sprintf("%s, %s, cold, first query on an empty --cache.dir", q.Name, tn), Unit: "s",
					Ours: fq.Seconds, Base: theirs.Cold.Seconds, BaseName: base, Check: c})
			}
			details[key] = map[string]any{"ours": ours, "tsdb": theirs,
				"response_bytes": map[string]int64{"ours": ours.Cold.Bytes, "tsdb": theirs.Cold.Bytes}}
		}
	}
	b.detail("remote_read", details)
	return nil
}

func (b *bench) rrProfileReq(q rrQuery, streamed bool) func(string) {
	body := q.request(streamed)
	return func(base string) { remoteRead(base, q, streamed, body, b.answers, 10*time.Minute) }
}

type promqlRun struct {
	Startup float64        `json:"startup_seconds"`
	Cold    promqlResult   `json:"cold"`
	Warm    []promqlResult `json:"warm"`
	WarmMed float64        `json:"warm_median_seconds"`
	PeakRSS int64          `json:"peak_rss_bytes"`
}

func (b *bench) measurePromQL(start func() (*server, error), extra func() (*server, error)) (*promqlRun, error) {
	b.coldStart()
	t0 := time.Now()
	var backend *server
	if extra != nil {
		var err error
		if backend, err = extra(); err != nil {
			return nil, err
		}
		defer backend.stop()
	}
	s, err := start()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	pr := &promqlRun{Startup: time.Since(t0).Seconds()}
	st, en := time.UnixMilli(b.weekStart), time.UnixMilli(b.weekEnd+1)
	pr.Cold = queryRange(s.base, b.promqlExpr, st, en, time.Minute, b.answers, 10*time.Minute)
	var secs []float64
	for i, t0 := 0, time.Now(); b.moreWarm(i, t0); i++ {
		settle()
		r := queryRange(s.base, b.promqlExpr, st, en, time.Minute, b.answers, 10*time.Minute)
		r.values = nil
		pr.Warm = append(pr.Warm, r)
		secs = append(secs, r.Seconds)
	}
	sort.Float64s(secs)
	pr.WarmMed = secs[len(secs)/2]
	pid := s.pid()
	if backend != nil {
		pid = backend.pid()
	}
	pr.PeakRSS = vmHWM(pid)
	return pr, nil
}

// promql: a one-week rate() at a 60 s step through our query API, through
// a Prometheus that remote-reads us, and through Prometheus
// over its own TSDB.
func (b *bench) promql() error {
	logf("promql: %s over 7 days, step 60 s", b.promqlExpr)
	ours, err := b.measurePromQL(b.startOurs("promql"), nil)
	if err != nil {
		return err
	}
	tsdb, err := b.measurePromQL(b.startTSDB("promql"), nil)
	if err != nil {
		return err
	}
	// Prometheus with remote_read to a fresh pcp-remote-read.
	var backend *server
	viaRR, err := b.measurePromQL(func() (*server, error) {
		dir := fmt.Sprintf("%s/prom-rr-%d", b.t.tmp, time.Now().UnixNano())
		cfg := fmt.Sprintf("global:\n  scrape_interval: 1m\nremote_read:\n  - url: %s/api/v1/read\n    read_recent: true\n    filter_external_labels: false\n    remote_timeout: 10m\n", backend.base)
		return startProm(b.t, dir, cfg, "remote-read")
	}, func() (*server, error) {
		s, err := startOurs(b.t, b.ci, "promql-backend")
		backend = s
		return s, err
	})
	if err != nil {
		return err
	}
	base := "Prometheus 3 over its TSDB"
	c1 := comparePromQL(ours.Cold, tsdb.Cold)
	c2 := comparePromQL(viaRR.Cold, tsdb.Cold)
	if ours.Cold.Err != "" {
		c1 = "ours FAILED: " + truncate(ours.Cold.Err, 120)
	}
	if viaRR.Cold.Err != "" {
		c2 = "FAILED: " + truncate(viaRR.Cold.Err, 120)
	}
	b.profileReq["promql"] = func(bs string) {
		queryRange(bs, b.promqlExpr, time.UnixMilli(b.weekStart), time.UnixMilli(b.weekEnd+1), time.Minute, b.answers, 10*time.Minute)
	}
	name := b.promqlExpr + ", 7 days, step 60 s"
	b.add(&row{Section: "PromQL", Name: name + ", our API, cold", Unit: "s", Ours: ours.Cold.Seconds, Base: tsdb.Cold.Seconds, BaseName: base, Target: "<= 3", Check: c1, Profile: "promql"})
	b.add(&row{Section: "PromQL", Name: name + ", our API, warm", Unit: "s", Ours: ours.WarmMed, Base: tsdb.WarmMed, BaseName: base, Target: "<= 1", Check: c1, Profile: "promql"})
	b.add(&row{Section: "PromQL", Name: name + ", Prometheus remote-reading us, cold", Unit: "s", Ours: viaRR.Cold.Seconds, Base: tsdb.Cold.Seconds, BaseName: base, Target: "<= 3", Check: c2})
	b.add(&row{Section: "PromQL", Name: name + ", Prometheus remote-reading us, warm", Unit: "s", Ours: viaRR.WarmMed, Base: tsdb.WarmMed, BaseName: base, Target: "<= 1", Check: c2})
	ours.Cold.values, tsdb.Cold.values, viaRR.Cold.values = nil, nil, nil
	b.detail("promql", map[string]any{"query": b.promqlExpr, "ours": ours, "tsdb": tsdb, "prometheus_remote_read_ours": viaRR})
	return nil
}

// ranges: streamed one metric and all series over 1x, 4x, 16x, each on a
// fresh process: time and peak RSS (VmHWM), ours and the TSDB's. Our
// server runs with --query.max-samples=0 here: all series over 16x is
// more than the default 50M-sample budget.
func (b *bench) ranges() error {
	details := map[string]any{}
	for si, set := range [][]rrQuery{b.rangesOne, b.rangesAll} {
		var oursRSS []float64
		var theirRSS []float64
		for _, q := range set {
			logf("range: %s, streamed", q.Name)
			ours, err := b.measureRR(b.startOurs("range", "--query.max-samples=0"), q, true)
			if err != nil {
				return err
			}
			theirs, err := b.measureRR(b.startTSDB("range"), q, true)
			if err != nil {
				return err
			}
			check := compareRR(ours, theirs)
			key := q.Key + "-streamed"
			b.profileReq[key] = b.rrProfileReq(q, true)
			base := "Prometheus 3 TSDB"
			b.add(&row{Section: "range", Name: q.Name + ", streamed, cold time", Unit: "s",
				Ours: ours.Cold.Seconds, Base: theirs.Cold.Seconds, BaseName: base, Target: "<= 3", Check: check, Profile: key})
			b.add(&row{Section: "range", Name: q.Name + ", streamed, warm time", Unit: "s",
				Ours: ours.WarmMed, Base: theirs.WarmMed, BaseName: base, Target: "<= 1", Check: check, Profile: key})
			b.add(&row{Section: "range", Name: q.Name + ", streamed, peak RSS", Unit: "MiB",
				Ours: float64(ours.PeakRSS) / (1 << 20), Base: float64(theirs.PeakRSS) / (1 << 20), BaseName: base,
				Check: fmt.Sprintf("ours idle %.0f MiB, TSDB idle %.0f MiB", float64(ours.IdleRSS)/(1<<20), float64(theirs.IdleRSS)/(1<<20))})
			oursRSS = append(oursRSS, float64(ours.PeakRSS))
			theirRSS = append(theirRSS, float64(theirs.PeakRSS))
			details[key] = map[string]any{"ours": ours, "tsdb": theirs}
		}
		what := "one metric"
		if si == 1 {
			what = "all series"
		}
		// Growth: ours 16x against ours 1x (the target), baseline = the
		// TSDB's own growth for reference.
		b.add(&row{Section: "memory", Name: what + ": peak RSS 16x / 1x, ours (baseline: TSDB 16x / 1x)", Unit: "x",
			Ours: oursRSS[2] / oursRSS[0], Base: theirRSS[2] / theirRSS[0], BaseName: "Prometheus 3 TSDB, same ratio",
			Target: "ours <= 1.2"})
	}
	b.detail("ranges", details)
	return nil
}

// concAnswerBytes is the buffer each concurrent client starts with: the
// streamed day of one metric is about 1.2 MB at full scale.
const concAnswerBytes = 4 << 20

// concurrency: 32 clients at once, each one streamed day query for the
// metric, against a fresh process: wall time, failures, peak RSS.
func (b *bench) concurrency() error {
	const clients = 32
	q := b.qDay
	body := q.request(true)
	type concRun struct {
		WallSeconds float64        `json:"wall_seconds"`
		Latencies   []float64      `json:"latencies_seconds"`
		Status      map[string]int `json:"status"`
		PeakRSS     int64          `json:"peak_rss_bytes"`
		IdleRSS     int64          `json:"idle_peak_rss_bytes"`
		Samples     int64          `json:"samples"`
	}
	measure := func(start func() (*server, error)) (*concRun, error) {
		b.coldStart()
		s, err := start()
		if err != nil {
			return nil, err
		}
		defer s.stop()
		cr := &concRun{Status: map[string]int{}, IdleRSS: vmHWM(s.pid())}
		// Each client reads into a buffer of its own, made and faulted
		// in before the clock starts (see answerBuf), and the answers are
		// checked after it stops: the harness's own work shares the 2
		// CPUs with the server, and is the same whichever server answers.
		bufs := make([]*answerBuf, clients)
		for i := range bufs {
			bufs[i] = newAnswerBuf(concAnswerBytes)
		}
		results := make([]rrResult, clients)
		answers := make([][]byte, clients)
		types := make([]string, clients)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		t0 := time.Now()
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				results[i], answers[i], types[i] = fetchRR(s.base, body, bufs[i], 10*time.Minute)
			}()
		}
		close(gate)
		wg.Wait()
		cr.WallSeconds = time.Since(t0).Seconds()
		cr.PeakRSS = vmHWM(s.pid())
		for i := range results {
			r := &results[i]
			if r.Err == "" {
				r.check(q, true, answers[i], types[i])
			}
			cr.Latencies = append(cr.Latencies, r.Seconds)
			switch {
			case r.Err == "":
				cr.Status["ok"]++
				cr.Samples += r.Content.Samples
			case r.Status != 0:
				cr.Status[fmt.Sprintf("HTTP %d", r.Status)]++
			default:
				cr.Status["error"]++
			}
		}
		sort.Float64s(cr.Latencies)
		return cr, nil
	}
	logf("concurrency: %d x %s, streamed", clients, q.Name)
	ours, err := measure(b.startOurs("conc"))
	if err != nil {
		return err
	}
	theirs, err := measure(b.startTSDB("conc"))
	if err != nil {
		return err
	}
	status := func(m map[string]int) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		var parts []string
		for _, k := range ks {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
		return strings.Join(parts, ", ")
	}
	check := fmt.Sprintf("ours: %s (median latency %.2f s); TSDB: %s", status(ours.Status), ours.Latencies[len(ours.Latencies)/2], status(theirs.Status))
	base := "Prometheus 3 TSDB"
	name := fmt.Sprintf("%d concurrent x %s, streamed", clients, q.Name)
	b.add(&row{Section: "concurrency", Name: name + ", wall time", Unit: "s", Ours: ours.WallSeconds, Base: theirs.WallSeconds, BaseName: base, Check: check})
	b.add(&row{Section: "concurrency", Name: name + ", peak RSS", Unit: "MiB", Ours: float64(ours.PeakRSS) / (1 << 20), Base: float64(theirs.PeakRSS) / (1 << 20), BaseName: base,
		Check: fmt.Sprintf("ours idle %.0f MiB, TSDB idle %.0f MiB", float64(ours.IdleRSS)/(1<<20), float64(theirs.IdleRSS)/(1<<20))})
	b.detail("concurrency", map[string]any{"clients": clients, "query": q.Name, "ours": ours, "tsdb": theirs})
	return nil
}

// tablesInfo describes the server's persistent column tables
// (--cache.dir), when it has them.
type tablesInfo struct {
	Dir             string   `json:"-"`
	Seconds         float64  `json:"build_seconds"`
	Built           int      `json:"built"`
	Failed          int      `json:"failed"`
	Prefix          int      `json:"prefix_tables_built"` // of the newest day
	Bytes           int64    `json:"bytes"`
	ClosedRawBytes  int64    `json:"closed_archives_uncompressed_bytes"`
	ClosedDiskBytes int64    `json:"closed_archives_disk_bytes"`
	FirstQuery      rrResult `json:"first_query"`
}

// buildTables starts from an empty --cache.dir, sends the first query
// (one metric over the week, streamed: it touches every archive, so the
// server queues a table for each closed one) and waits until the
// background builder has made them all. Every later measurement uses
// these tables: "cold" is a fresh process over a built cache, the steady
// state of a server whose archives closed a while ago.
func (b *bench) buildTables() error {
	dir := filepath.Join(b.ci.Dir, "tables")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b.t.tablesDir = dir
	closed := len(b.ci.Archives) - 1
	t0 := time.Now()
	s, err := startOurs(b.t, b.ci, "tables")
	if err != nil {
		return err
	}
	defer s.stop()
	ti := &tablesInfo{Dir: dir}
	ti.FirstQuery = remoteRead(s.base, b.qWeek, true, b.qWeek.request(true), b.answers, 30*time.Minute)
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var st struct {
			Tables struct {
				Built  int `json:"built"`
				Failed int `json:"failed"`
				// Servers with prefix tables of the newest archive
				// report how many they built; older ones have none.
				Prefixes *int `json:"prefixes_built"`
			} `json:"tables"`
		}
		resp, err := httpClient.Get(s.base + "/status?format=json")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		ti.Built, ti.Failed = st.Tables.Built, st.Tables.Failed
		if p := st.Tables.Prefixes; p != nil {
			ti.Prefix = *p
		}
		if ti.Built+ti.Failed >= closed && (st.Tables.Prefixes == nil || ti.Prefix > 0) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tables: %d of %d built after 30 min", ti.Built, closed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ti.Seconds = time.Since(t0).Seconds()
	s.stop()
	ti.Bytes = dirBytes(dir)
	ti.ClosedRawBytes = b.ci.RawBytes * int64(closed) / int64(len(b.ci.Archives))
	for i := 0; i < closed; i++ {
		for _, suffix := range []string{".0.xz", ".meta.xz", ".index"} {
			if fi, err := os.Stat(b.ci.base(i) + suffix); err == nil {
				ti.ClosedDiskBytes += fi.Size()
			}
		}
	}
	b.tables = ti
	b.res.Tables = ti
	check := ""
	if ti.Failed > 0 {
		check = fmt.Sprintf("FAILED: %d tables could not be built", ti.Failed)
	}
	name := fmt.Sprintf("column tables of the %d closed days: first query to all built (background)", closed)
	if ti.Prefix > 0 {
		name = fmt.Sprintf("column tables of the %d closed days and a prefix table of the newest: first query to all built (background)", closed)
	}
	b.add(&row{Section: "tables", Name: name,
		Unit: "s", Ours: ti.Seconds, Check: check})
	// Disk per GiB of the archives the tables cover: the closed days, and
	// the newest day too when it has a prefix table.
	raw := ti.ClosedRawBytes
	closedBytes := ti.Bytes
	if ti.Prefix > 0 {
		raw = b.ci.RawBytes
		closedBytes = tableBytes(dir, false)
	}
	b.add(&row{Section: "tables", Name: "column tables: disk", Unit: "MiB", Ours: float64(ti.Bytes) / (1 << 20),
		Check: fmt.Sprintf("%.0f MiB per GiB of uncompressed archive; the closed days' tables are %.0f%% of those days' size on disk (xz)",
			float64(ti.Bytes)/(1<<20)/(float64(raw)/(1<<30)), 100*float64(closedBytes)/float64(ti.ClosedDiskBytes))})
	return nil
}

// tableBytes sums the sizes of the tables in dir: prefix tables (named
// HASH-L<vol>.<off>-vN.tbl) when prefix is set, the others otherwise.
func tableBytes(dir string, prefix bool) int64 {
	names, _ := filepath.Glob(filepath.Join(dir, "*.tbl"))
	var n int64
	for _, p := range names {
		if strings.Contains(filepath.Base(p), "-L") != prefix {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
