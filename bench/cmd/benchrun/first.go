package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// firstRuns is how many fresh processes, each on an empty --cache.dir,
// answer a first query; the median time and the highest peak RSS count.
const firstRuns = 3

// firstRun is one fresh process on an empty --cache.dir and its first
// request.
type firstRun struct {
	Result  rrResult `json:"first_request"`
	Startup float64  `json:"startup_seconds"`
	IdleRSS int64    `json:"idle_peak_rss_bytes"`
	PeakRSS int64    `json:"peak_rss_bytes"` // VmHWM right after the answer's last byte
}

// firstQuery starts a fresh process with an empty cache directory of its
// own (page cache warm), sends q once and reads VmHWM as soon as the
// answer's last byte is in, before the background table builder that the
// query set off has gone far; then stops the process and removes the
// directory.
// With off, the process has no tables at all (--cache.dir=), for
// reference: the same decode without the background builds beside it.
func (b *bench) firstQuery(q rrQuery, streamed, off bool, n int) (*firstRun, error) {
	dir := ""
	if !off {
		dir = filepath.Join(b.t.tmp, fmt.Sprintf("first-%s-%d", q.Key, n))
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	b.coldStart()
	t0 := time.Now()
	s, err := startOursCache(b.t, b.ci, dir, "first-"+q.Key)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	fr := &firstRun{Startup: time.Since(t0).Seconds(), IdleRSS: vmHWM(s.pid())}
	r, data, ct := fetchRR(s.base, q.request(streamed), b.answers, 10*time.Minute)
	fr.PeakRSS = vmHWM(s.pid())
	s.stop()
	if r.Err == "" {
		r.check(q, streamed, data, ct)
	}
	fr.Result = r
	return fr, nil
}

// firstSet is firstRuns fresh processes of ours and one of the TSDB's
// (its cold request, for the content check and the memory baseline),
// or the TSDB's run given as tsdb.
type firstSet struct {
	Ours        []*firstRun `json:"ours"`
	TSDB        *firstRun   `json:"tsdb"`
	MedianSecs  float64     `json:"ours_median_seconds"`
	MaxPeakRSS  int64       `json:"ours_max_peak_rss_bytes"`
	MaxIdleRSS  int64       `json:"ours_max_idle_peak_rss_bytes"`
	Samples     int64       `json:"samples"`
	Check       string      `json:"check"`
	TimesString string      `json:"-"`
}

func (b *bench) firstSet(q rrQuery, streamed, off bool, tsdb *firstRun) (*firstSet, error) {
	fs := &firstSet{}
	var secs []float64
	for i := 0; i < firstRuns; i++ {
		fr, err := b.firstQuery(q, streamed, off, i)
		if err != nil {
			return nil, err
		}
		fs.Ours = append(fs.Ours, fr)
		secs = append(secs, fr.Result.Seconds)
		fs.MaxPeakRSS = max(fs.MaxPeakRSS, fr.PeakRSS)
		fs.MaxIdleRSS = max(fs.MaxIdleRSS, fr.IdleRSS)
	}
	fs.TimesString = joinSecs(secs)
	fs.MedianSecs = medianOf(secs)

	// The TSDB: one fresh process, its first request.
	tr := tsdb
	if tr == nil {
		b.coldStart()
		t0 := time.Now()
		s, err := startProm(b.t, b.ti.Dir, emptyPromConfig, "first")
		if err != nil {
			return nil, err
		}
		tr = &firstRun{Startup: time.Since(t0).Seconds(), IdleRSS: vmHWM(s.pid())}
		tr.Result = remoteRead(s.base, q, streamed, q.request(streamed), b.answers, 10*time.Minute)
		tr.PeakRSS = vmHWM(s.pid())
		s.stop()
	}
	fs.TSDB = tr

	tc := tr.Result.Content
	fs.Samples = fs.Ours[0].Result.Content.Samples
	fs.Check = "equal: " + fs.Ours[0].Result.Content.String()
	if tr.Result.Err != "" {
		fs.Check = "baseline FAILED: " + truncate(tr.Result.Err, 120)
	}
runs:
	for _, fr := range fs.Ours {
		c := fr.Result.Content
		switch {
		case fr.Result.Err != "":
			fs.Check = "ours FAILED: " + truncate(fr.Result.Err, 120)
		case tr.Result.Err != "":
		case c.Samples != tc.Samples || c.Series != tc.Series:
			fs.Check = fmt.Sprintf("MISMATCH: ours %v, TSDB %v", c, tc)
		case c.Checksum != tc.Checksum:
			fs.Check = fmt.Sprintf("MISMATCH: %v but different timestamps or values", c)
		default:
			continue
		}
		break runs
	}
	return fs, nil
}

// firstQueries: the first query of a fresh process on an empty
// --cache.dir, over the newest day, whose volume is plain:
// every series, streamed, as values per second against libpcp's raw loop
// over the same day, with its peak RSS; and one metric, streamed, against
// the pread ceiling of the same volume. The decode section's figures are
// the baselines; a run without it measures them here the same way.
func (b *bench) firstQueries() error {
	if b.plain == nil {
		logf("first query: the decode section did not run; measuring libpcp and the pread ceiling over the plain day")
		p, err := b.measurePlain()
		if err != nil {
			return err
		}
		b.plain = p
	}
	pf := b.plain
	details := map[string]any{"baselines": pf, "runs": firstRuns}
	const tn = "STREAMED_XOR_CHUNKS"
	suffix := ", first query on an empty --cache.dir"
	if !b.t.tableFlag {
		suffix = ", first query of a fresh process (no --cache.dir)"
	}

	logf("first query: %s (newest day, plain), %s, %d fresh processes", b.qDayAll.Name, tn, firstRuns)
	all, err := b.firstSet(b.qDayAll, true, false, nil)
	if err != nil {
		return err
	}
	libpcp := "libpcp pmFetchArchive+pmExtractValue (C), one core, plain day"
	rate := 0.0
	if all.MedianSecs > 0 {
		rate = float64(all.Samples) / all.MedianSecs
	}
	b.add(&row{Section: "first query", Name: b.qDayAll.Name + " (plain), " + tn + suffix + ": samples / wall time, as values/s", Unit: "Mvalues/s",
		Ours: rate / 1e6, Base: pf.LibpcpRate / 1e6, BaseName: libpcp, Higher: true, Target: ">= 1.5",
		Check: fmt.Sprintf("%s; median of %d fresh processes (%s); TSDB cold %s", all.Check, firstRuns, all.TimesString, fmtVal(all.TSDB.Result.Seconds, "s"))})
	b.add(&row{Section: "first query", Name: b.qDayAll.Name + " (plain), " + tn + suffix + ", peak RSS", Unit: "MiB",
		Ours: float64(all.MaxPeakRSS) / (1 << 20), Base: float64(all.TSDB.PeakRSS) / (1 << 20), BaseName: "Prometheus 3 TSDB, its first request",
		Target: "ours <= 100",
		Check: fmt.Sprintf("highest of %d; ours idle %.0f MiB, TSDB idle %.0f MiB", firstRuns,
			float64(all.MaxIdleRSS)/(1<<20), float64(all.TSDB.IdleRSS)/(1<<20))})
	details[b.qDayAll.Key] = all

	logf("first query: %s (newest day, plain), %s, %d fresh processes", b.qDay.Name, tn, firstRuns)
	one, err := b.firstSet(b.qDay, true, false, nil)
	if err != nil {
		return err
	}
	b.add(&row{Section: "first query", Name: b.qDay.Name + " (plain), " + tn + suffix, Unit: "s",
		Ours: one.MedianSecs, Base: pf.CeilingSeconds, BaseName: "ceiling: pread of the plain volume alone, every word summed (benchdecode -read, one core)",
		Target: "<= 1.5",
		Check: fmt.Sprintf("%s; median of %d fresh processes (%s), peak RSS %.0f MiB at most; TSDB cold %s", one.Check, firstRuns,
			one.TimesString, float64(one.MaxPeakRSS)/(1<<20), fmtVal(one.TSDB.Result.Seconds, "s"))})
	details[b.qDay.Key] = one

	// For reference, without targets: the same first queries of a
	// process with no tables at all (--cache.dir=), so no table build
	// beside the query, which reads the archive itself either way.
	if b.t.tableFlag {
		off := ", tables off (--cache.dir=), for reference"
		logf("first query: %s and %s, tables off, %d fresh processes each", b.qDayAll.Name, b.qDay.Name, firstRuns)
		allOff, err := b.firstSet(b.qDayAll, true, true, all.TSDB)
		if err != nil {
			return err
		}
		rate := 0.0
		if allOff.MedianSecs > 0 {
			rate = float64(allOff.Samples) / allOff.MedianSecs
		}
		b.add(&row{Section: "first query", Name: b.qDayAll.Name + " (plain), " + tn + off + ": samples / wall time, as values/s", Unit: "Mvalues/s",
			Ours: rate / 1e6, Base: pf.LibpcpRate / 1e6, BaseName: libpcp, Higher: true,
			Check: fmt.Sprintf("%s; median of %d (%s); peak RSS %.0f MiB at most", allOff.Check, firstRuns, allOff.TimesString, float64(allOff.MaxPeakRSS)/(1<<20))})
		oneOff, err := b.firstSet(b.qDay, true, true, one.TSDB)
		if err != nil {
			return err
		}
		b.add(&row{Section: "first query", Name: b.qDay.Name + " (plain), " + tn + off, Unit: "s",
			Ours: oneOff.MedianSecs, Base: pf.CeilingSeconds, BaseName: "ceiling: pread of the plain volume alone, every word summed (benchdecode -read, one core)",
			Check: fmt.Sprintf("%s; median of %d (%s); peak RSS %.0f MiB at most", oneOff.Check, firstRuns, oneOff.TimesString, float64(oneOff.MaxPeakRSS)/(1<<20))})
		details[b.qDayAll.Key+"-tables-off"] = allOff
		details[b.qDay.Key+"-tables-off"] = oneOff
	}
	b.detail("first_query", details)
	return nil
}
