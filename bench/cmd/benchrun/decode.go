package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// decodePass is one pass of a decode loop, ours or libpcp's (pcpdecode
// prints the same JSON).
type decodePass struct {
	Records int64   `json:"records"`
	Values  int64   `json:"values"`
	Seconds float64 `json:"seconds"`
	Sum     float64 `json:"sum"`
}

// runPinned runs a program of benchdecode's or pcpdecode's kind pinned to
// CPU 0 (and GOMAXPROCS=1) and returns its passes, one JSON line each.
func runPinned[T any](argv []string) ([]T, error) {
	args := append([]string{"taskset", "-c", "0"}, argv...)
	out, err := run(30*time.Minute, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		return nil, err
	}
	var passes []T
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var p T
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			return nil, fmt.Errorf("%q: %w", l, err)
		}
		passes = append(passes, p)
	}
	return passes, nil
}

// readPass is one pass of benchdecode -read.
type readPass struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// samePasses reports whether every pass of ours and theirs decoded what
// ours[0] did, each side to its own sum; if not, it returns a pass that
// differs.
func samePasses(ours, theirs []decodePass) (decodePass, bool) {
	for _, p := range ours {
		if p.Records != ours[0].Records || p.Values != ours[0].Values || p.Sum != ours[0].Sum {
			return p, false
		}
	}
	for _, p := range theirs {
		if p.Records != theirs[0].Records || p.Values != theirs[0].Values || p.Sum != theirs[0].Sum {
			return p, false
		}
	}
	return decodePass{}, true
}

func bestRate(ps []decodePass) float64 {
	best := 0.0
	for _, p := range ps {
		best = max(best, float64(p.Values)/p.Seconds)
	}
	return best
}

// fastestRead is the pass of benchdecode -read that took least time.
func fastestRead(reads []readPass) readPass {
	best := reads[0]
	for _, p := range reads {
		if p.Seconds < best.Seconds {
			best = p
		}
	}
	return best
}

// plainFigures are the decode section's figures for the newest (plain)
// day that the first-query rows compare with.
type plainFigures struct {
	LibpcpRate     float64 `json:"libpcp_values_per_second"` // best pass
	Values         int64   `json:"values"`
	CeilingSeconds float64 `json:"ceiling_seconds"` // best pass of benchdecode -read
	CeilingBytes   int64   `json:"ceiling_bytes"`
	Measured       string  `json:"measured"` // "decode section", or "first section" when decode did not run
}

// measurePlain measures libpcp's raw loop and the pread ceiling over the
// newest day as the decode section does (five runs of three passes of
// pcpdecode, five of benchdecode -read, pinned to CPU 0), for a run whose
// sections leave decode out.
func (b *bench) measurePlain() (*plainFigures, error) {
	base := b.ci.base(len(b.ci.Archives) - 1)
	var theirs []decodePass
	var reads []readPass
	for i := 0; i < 5; i++ {
		t, err := runPinned[decodePass]([]string{b.t.pcpdecode, base, "3"})
		if err != nil {
			return nil, err
		}
		p, err := runPinned[readPass]([]string{b.t.decoder, "-read", base, "1"})
		if err != nil {
			return nil, err
		}
		theirs, reads = append(theirs, t...), append(reads, p...)
	}
	best := fastestRead(reads)
	return &plainFigures{LibpcpRate: bestRate(theirs), Values: theirs[0].Values, CeilingSeconds: best.Seconds,
		CeilingBytes: best.Bytes, Measured: "first section"}, nil
}

// decode: values per second on one core, ours vs libpcp's raw loop, over
// the newest (plain) day archive and over an older (.xz) one.
func (b *bench) decode() error {
	const passes = 5
	// Each run of a program makes perRun passes (each opening the archive
	// afresh): 15 passes of each program on the plain day, whose ratio
	// has a target. On a shared machine one pass of either side can take
	// 10-40% longer than its best, and more passes make the best of each
	// less a matter of luck; the .xz day, about 2.5 s a pass, keeps one
	// pass a run.
	cases := []struct {
		name   string
		base   string
		perRun int
	}{
		{"newest day, plain volume", b.ci.base(len(b.ci.Archives) - 1), 3},
		{"older day, .xz volume", b.ci.base(len(b.ci.Archives) - 2), 1},
	}
	details := map[string]any{}
	for _, c := range cases {
		logf("decode %s: %s", c.name, c.base)
		// Alternate one pass of each, so load from elsewhere on the
		// machine falls on both alike; the best pass of each counts.
		var ours, theirs []decodePass
		for i := 0; i < passes; i++ {
			n := strconv.Itoa(c.perRun)
			o, err := runPinned[decodePass]([]string{b.t.decoder, c.base, n})
			if err != nil {
				return err
			}
			t, err := runPinned[decodePass]([]string{b.t.pcpdecode, c.base, n})
			if err != nil {
				return err
			}
			ours, theirs = append(ours, o...), append(theirs, t...)
		}
		or, tr := bestRate(ours), bestRate(theirs)
		check := "ok: same values"
		if p, ok := samePasses(ours, theirs); !ok {
			check = fmt.Sprintf("MISMATCH: passes differ: %+v vs %+v", ours[0], p)
		} else if ours[0].Values != theirs[0].Values || ours[0].Records != theirs[0].Records {
			check = fmt.Sprintf("MISMATCH: ours %d records/%d values, libpcp %d/%d", ours[0].Records, ours[0].Values, theirs[0].Records, theirs[0].Values)
		} else if d := (ours[0].Sum - theirs[0].Sum) / theirs[0].Sum; d > 1e-9 || d < -1e-9 {
			check = fmt.Sprintf("MISMATCH: sums differ by %.2g", d)
		} else {
			check = fmt.Sprintf("ok: %d records, %d values, equal sums", ours[0].Records, ours[0].Values)
		}
		r := &row{Section: "decode", Name: "values/s, one core, " + c.name, Unit: "Mvalues/s",
			Ours: or / 1e6, Base: tr / 1e6, BaseName: "libpcp pmFetchArchive+pmExtractValue (C)", Higher: true, Check: check}
		if strings.Contains(c.name, "plain") {
			r.Target = ">= 3"
		}
		b.add(r)
		details[c.name] = map[string]any{"ours": ours, "libpcp": theirs}
		if !strings.Contains(c.name, "plain") {
			continue
		}
		// The ceiling: reading the volume's bytes as our reader does,
		// and touching each word, with no decoding at all.
		var reads []readPass
		for i := 0; i < passes; i++ {
			p, err := runPinned[readPass]([]string{b.t.decoder, "-read", c.base, "1"})
			if err != nil {
				return err
			}
			reads = append(reads, p...)
		}
		best := fastestRead(reads)
		b.plain = &plainFigures{LibpcpRate: tr, Values: theirs[0].Values, CeilingSeconds: best.Seconds, CeilingBytes: best.Bytes, Measured: "decode section"}
		b.add(&row{Section: "decode", Name: "ceiling: reading the " + c.name + " alone (pread, every word summed), as values/s", Unit: "Mvalues/s",
			Ours: float64(ours[0].Values) / best.Seconds / 1e6, Base: tr / 1e6, BaseName: "libpcp pmFetchArchive+pmExtractValue (C)", Higher: true,
			Check: fmt.Sprintf("%.0f MB in %.1f ms: no pread decoder is faster", float64(best.Bytes)/1e6, best.Seconds*1e3)})
		details[c.name+", read only"] = reads
	}
	b.detail("decode", details)
	return nil
}
