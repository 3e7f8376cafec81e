package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ulxz "github.com/ulikunitz/xz"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
)

// The history section: what the column tables' life cycle
// costs a server that runs for months.
//
//   - Compressed week, server running while it was written: a server
//     indexes the week while its closed days are still plain, as pmlogger
//     left them; then the days are compressed as pmlogger_daily does
//     (xz -0 --block-size=10MiB: the corpus' own .xz files are exactly
//     that), and a fresh process answers its first query for one metric
//     over the week, against the TSDB's first query. No table may be built
//     for it: each compressed day is found by its content.
//   - Backlog: a fresh process over the week as stored (six .xz days and
//     the plain newest), with an empty --cache.dir and no query, indexes
//     it in the background. Its rate, the week's uncompressed bytes (the
//     six days' and the newest day's, whose prefix table it builds too)
//     per second from the process' start to the last table, is set
//     against our own xz decoder's, on one core, over the six days' files.

// statusTables is what the history section reads of /status.
type statusTables struct {
	Tables struct {
		Built    int    `json:"built"`
		Failed   int    `json:"failed"`
		Pending  int    `json:"pending"`
		Prefixes int    `json:"prefixes"`
		Promoted uint64 `json:"promoted"`
		Bytes    int64  `json:"bytes"`
		Backlog  struct {
			Archives int     `json:"archives"`
			Built    int     `json:"built"`
			Rate     float64 `json:"bytes_per_second"`
		} `json:"backlog"`
	} `json:"tables"`
}

func getStatus(base string) (*statusTables, error) {
	resp, err := httpClient.Get(base + "/status?format=json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st statusTables
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return &st, nil
}

// startOursOn starts our server over hostDir with --cache.dir=cache.
func startOursOn(t *tools, hostDir, cache, logTag string, extra ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{t.ours, "--web.listen-address=" + addr, "--log.level=warn", "--archive.rescan-interval=0",
		"--query.timeout=10m", "--cache.dir=" + cache}, extra...)
	args = append(args, hostDir)
	return startServer("pcp-remote-read", t.logFile("ours-"+logTag), t.oursEnv, addr, args...)
}

// waitIndexed polls /status until the backlog is done: every closed day
// built (or failed) and the newest day's prefix table made.
func waitIndexed(s *server, closed int, timeout time.Duration) (*statusTables, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := getStatus(s.base)
		if err != nil {
			return nil, err
		}
		tb := st.Tables
		if tb.Built+tb.Failed >= closed && tb.Backlog.Archives == 0 && tb.Pending == 0 && tb.Prefixes > 0 {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("after %v: %d of %d tables built, %d pending", timeout, tb.Built, closed, tb.Backlog.Archives)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// indexFresh starts a server over hostDir with an empty --cache.dir=cache
// and no query, and returns its status once the backlog is done and the
// seconds that took from the start.
func indexFresh(t *tools, hostDir, cache string, closed int, tag string, extra ...string) (*statusTables, float64, error) {
	t0 := time.Now()
	s, err := startOursOn(t, hostDir, cache, tag, extra...)
	if err != nil {
		return nil, 0, err
	}
	st, err := waitIndexed(s, closed, 30*time.Minute)
	s.stop()
	return st, time.Since(t0).Seconds(), err
}

func (b *bench) history() error {
	if !b.t.tableFlag {
		logf("history: the server has no --cache.dir; skipped")
		return nil
	}
	closed := len(b.ci.Archives) - 1
	details := map[string]any{}
	if err := b.compressedWeek(closed, details); err != nil {
		return err
	}
	if err := b.backlogWeek(closed, details); err != nil {
		return err
	}
	b.detail("history", details)
	return nil
}

// compressedWeek: tables built while the days were plain, then the days
// compressed, then a fresh process's first query.
func (b *bench) compressedWeek(closed int, details map[string]any) error {
	work := filepath.Join(b.t.tmp, "history-week")
	host := filepath.Join(work, "archives", b.ci.Spec.Host)
	cache := filepath.Join(work, "tables")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(host, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	// The week as pmlogger wrote it: every day plain.
	logf("history: the week, plain, indexed by a running server")
	for i := range b.ci.Archives {
		if err := plainCopy(b.ci.base(i), filepath.Join(host, b.ci.Archives[i])); err != nil {
			return err
		}
	}
	st, plainIndex, err := indexFresh(b.t, host, cache, closed, "history-plain")
	if err != nil {
		return err
	}

	// pmlogger_daily compresses the closed days: the corpus' .xz files
	// are what `xz -0 --block-size=10MiB` makes of them.
	for i := 0; i < closed; i++ {
		dst := filepath.Join(host, b.ci.Archives[i])
		for _, ext := range []string{".0", ".meta"} {
			if err := copyFile(b.ci.base(i)+ext+".xz", dst+ext+".xz"); err != nil {
				return err
			}
			if err := os.Remove(dst + ext); err != nil {
				return err
			}
		}
	}

	logf("history: %s over the compressed week, first query of a fresh process", b.qWeek.Name)
	var secs []float64
	var first rrResult
	built, promoted := 0, uint64(0)
	for i := 0; i < firstRuns; i++ {
		b.coldStart(host, cache)
		s, err := startOursOn(b.t, host, cache, fmt.Sprintf("history-compressed-%d", i))
		if err != nil {
			return err
		}
		r := remoteRead(s.base, b.qWeek, true, b.qWeek.request(true), b.answers, 10*time.Minute)
		after, serr := getStatus(s.base)
		s.stop()
		if r.Err != "" {
			return errors.New(r.Err)
		}
		if serr != nil {
			return serr
		}
		built = max(built, after.Tables.Built)
		promoted = max(promoted, after.Tables.Promoted)
		secs = append(secs, r.Seconds)
		first = r
	}
	median := medianOf(secs)

	// The TSDB: one fresh process, its first request.
	b.coldStart()
	ts, err := startProm(b.t, b.ti.Dir, emptyPromConfig, "history")
	if err != nil {
		return err
	}
	tr := remoteRead(ts.base, b.qWeek, true, b.qWeek.request(true), b.answers, 10*time.Minute)
	ts.stop()
	check := "equal: " + first.Content.String()
	switch {
	case tr.Err != "":
		check = "baseline FAILED: " + truncate(tr.Err, 120)
	case first.Content.Samples != tr.Content.Samples || first.Content.Checksum != tr.Content.Checksum:
		check = fmt.Sprintf("MISMATCH: ours %v, TSDB %v", first.Content, tr.Content)
	case built > 0:
		check = fmt.Sprintf("REBUILT: %d tables built after compression", built)
	}
	b.add(&row{Section: "history", Name: b.qWeek.Name + ", STREAMED_XOR_CHUNKS: first query of a fresh process on the week compressed after its tables were built (pmlogger_daily's xz)",
		Unit: "s", Ours: median, Base: tr.Seconds, BaseName: "Prometheus 3 TSDB, its first request", Target: "<= 3",
		Check: fmt.Sprintf("%s; median of %d (%s); no table built after compression (%d); the running server indexed the plain week in %.1f s (%d tables, %d promoted)",
			check, firstRuns, joinSecs(secs), built, plainIndex, st.Tables.Built, st.Tables.Promoted)})
	details["compressed_week"] = map[string]any{"seconds": secs, "tsdb": tr, "plain_index_seconds": plainIndex, "built_after": built}
	return nil
}

// backlogWeek: a fresh process over the stored week indexes it with no
// query; its rate against our xz decoder's on one core.
func (b *bench) backlogWeek(closed int, details map[string]any) error {
	// Our xz decoder, one core (no background decoding), over the same
	// volumes and .meta files.
	var raw int64
	d0 := time.Now()
	for i := 0; i < closed; i++ {
		for _, ext := range []string{".0.xz", ".meta.xz"} {
			n, err := decodeXZ(b.ci.base(i) + ext)
			if err != nil {
				return err
			}
			raw += n
		}
	}
	decodeSecs := time.Since(d0).Seconds()
	base := float64(raw) / decodeSecs
	for _, cpus := range []int{1, 2} {
		if err := b.backlogRun(closed, cpus, raw, base, decodeSecs, details); err != nil {
			return err
		}
	}
	return nil
}

// backlogRun is one fresh process indexing the stored week with
// --cache.build-cpus=cpus.
func (b *bench) backlogRun(closed, cpus int, raw int64, base, decodeSecs float64, details map[string]any) error {
	cache := filepath.Join(b.t.tmp, "history-backlog")
	if err := os.RemoveAll(cache); err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	logf("history: the stored week (%d xz days), never seen, indexed in the background", closed)
	b.coldStart()
	st, secs, err := indexFresh(b.t, b.ci.HostDir, cache, closed, fmt.Sprintf("history-backlog-%d", cpus), fmt.Sprintf("--cache.build-cpus=%d", cpus))
	if err != nil {
		return err
	}
	// The indexer indexes the whole week in that time: the closed days
	// (raw, decompressed) and the newest, plain day (its prefix table);
	// the time from start also holds the wait before the first plan.
	var live int64
	for _, ext := range []string{".0", ".meta"} {
		if fi, err := os.Stat(b.ci.base(closed) + ext); err == nil {
			live += fi.Size()
		}
	}
	ours := float64(raw+live) / secs
	check := fmt.Sprintf("%d tables and the newest day's prefix table (%s of the week: %s in %d xz days, %s plain) in %.1f s from start, with the wait before the first plan (builder: %s/s of building); %s decompressed in %.1f s by internal/xz on one core",
		st.Tables.Built, mib(raw+live), mib(raw), closed, mib(live), secs, mibf(st.Tables.Backlog.Rate), mib(raw), decodeSecs)
	if st.Tables.Failed > 0 {
		check = fmt.Sprintf("FAILED: %d tables; ", st.Tables.Failed) + check
	}
	name := fmt.Sprintf("backlog: the stored week (%d xz days and the plain newest), never seen, indexed in the background with no query (--cache.build-cpus=%d): uncompressed bytes per second", closed, cpus)
	target := ""
	if cpus == 1 {
		target = ">= 0.8" // the default: one core for decoding and building
	}
	b.add(&row{Section: "history", Name: name,
		Unit: "MiB/s", Ours: ours / (1 << 20), Base: base / (1 << 20), BaseName: "our xz decoder alone, one core, same files", Higher: true, Target: target,
		Check: check})
	if cpus > 1 {
		details[fmt.Sprintf("backlog_%d_cpus", cpus)] = map[string]any{"seconds": secs, "status": st}
		return nil
	}
	b.add(&row{Section: "history", Name: "column tables of the week: disk per GiB of uncompressed archive", Unit: "MiB",
		Ours:  float64(dirBytes(cache)) / (1 << 20) / (float64(b.ci.RawBytes) / (1 << 30)),
		Check: fmt.Sprintf("%s of tables (and references) for %s of archive, %s as stored", mib(dirBytes(cache)), mib(b.ci.RawBytes), mib(b.ci.DiskBytes))})
	details["backlog"] = map[string]any{"seconds": secs, "decode_seconds": decodeSecs, "uncompressed_bytes": raw, "status": st}
	return nil
}

// decodeXZ reads a whole .xz file through our decoder on one core and
// returns its decompressed size; a single-block file, which our
// decoder leaves to streaming, is streamed as the server does.
func decodeXZ(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	dec := xz.NewDecoder(xz.Options{})
	r, err := dec.NewReaderAt(f, fi.Size())
	if err != nil {
		zr, err := ulxz.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		return io.Copy(io.Discard, zr)
	}
	defer r.Close()
	return io.Copy(io.Discard, io.NewSectionReader(r, 0, r.Size()))
}

// plainCopy writes an archive's files to dst uncompressed.
func plainCopy(src, dst string) error {
	names, err := filepath.Glob(src + ".*")
	if err != nil {
		return err
	}
	for _, n := range names {
		suffix := strings.TrimPrefix(n, src)
		if plain, ok := strings.CutSuffix(suffix, ".xz"); ok {
			out, err := os.Create(dst + plain)
			if err != nil {
				return err
			}
			cmd := exec.Command("xz", "-dc", n)
			cmd.Stdout = out
			err = cmd.Run()
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("xz -dc %s: %w", n, err)
			}
			continue
		}
		if err := copyFile(n, dst+suffix); err != nil {
			return err
		}
	}
	return nil
}

// medianOf is the median of xs (the upper one of an even count), xs
// left as they are.
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// joinSecs writes times in seconds as the report does, in their order.
func joinSecs(xs []float64) string {
	var out []string
	for _, x := range xs {
		out = append(out, fmtVal(x, "s"))
	}
	return strings.Join(out, ", ")
}

func mibf(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
