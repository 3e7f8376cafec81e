// Command benchrun is `make bench`: it measures pcp-remote-read side by side
// with libpcp (decoding) and with Prometheus' own TSDB (remote read, PromQL,
// memory) over one generated "host-week" corpus, and writes the ratios to
// bench/results/.
//
//	go run ./bench/cmd/benchrun [flags]
//
// Environment (flags override): BENCH_SCALE=full|small, BENCH_SEED,
// BENCH_REV (build the server from a git revision instead of the working
// tree), BENCH_WARM (warm repetitions), BENCH_PROFILE=0 (skip pprof),
// BENCH_SECTIONS (comma list of decode,first,remote,promql,range,concurrency),
// BENCH_NAME (results file name).
// See bench/README.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func mib(n int64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

func numCPU() int { return runtime.NumCPU() }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type options struct {
	scale    string
	seed     uint64
	rev      string
	warm     int
	profile  bool
	sections map[string]bool
	results  string
	name     string
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "compare":
			os.Exit(compareMain(os.Args[2:]))
		}
	}
	var o options
	var seed, sections string
	var warm int
	var profile bool
	flag.StringVar(&o.scale, "scale", envOr("BENCH_SCALE", "full"), "corpus scale: full (about 2,000 series) or small (about 370 series)")
	flag.StringVar(&seed, "seed", envOr("BENCH_SEED", "1"), "corpus seed")
	flag.StringVar(&o.rev, "rev", os.Getenv("BENCH_REV"), "git revision to build the server from (default: the working tree)")
	w, _ := strconv.Atoi(envOr("BENCH_WARM", "5"))
	flag.IntVar(&warm, "warm", w, "warm repetitions per measurement (each bounded to 60 s)")
	flag.BoolVar(&profile, "profile", envOr("BENCH_PROFILE", "1") != "0", "CPU-profile our server on the slowest rows")
	flag.StringVar(&sections, "sections", envOr("BENCH_SECTIONS", "decode,first,remote,promql,range,concurrency,history"), "sections to run")
	flag.StringVar(&o.results, "results", "bench/results", "results directory")
	flag.StringVar(&o.name, "name", os.Getenv("BENCH_NAME"), "results file name without extension (default latest, or latest-small)")
	flag.Parse()
	var err error
	if o.seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
		fmt.Fprintln(os.Stderr, "bench: bad seed:", err)
		os.Exit(2)
	}
	if o.scale != "full" && o.scale != "small" {
		fmt.Fprintln(os.Stderr, "bench: scale must be full or small")
		os.Exit(2)
	}
	o.warm = max(warm, 1)
	o.profile = profile
	o.sections = map[string]bool{}
	for _, s := range strings.Split(sections, ",") {
		o.sections[strings.TrimSpace(s)] = true
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		logf("%v: stopping child processes", s)
		stopAll()
		os.Exit(130)
	}()
	code := 0
	if err := benchMain(o); err != nil {
		logf("FAILED: %v", err)
		code = 1
	}
	stopAll()
	os.Exit(code)
}

func benchMain(o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	t, err := setupTools(root, o.rev)
	if err != nil {
		return err
	}
	defer os.RemoveAll(t.tmp)

	spec := corpusSpec{Scale: o.scale, Seed: o.seed, Start: 1762732800 /* Monday 2025-11-10 00:00 UTC */, Days: 7,
		Interval: 10, Divisor: 1, Host: "bench-host", Version: 2, GenHash: t.genHash}
	if o.scale == "small" {
		spec.Divisor = 8
	}
	ci, err := ensureCorpus(spec, t.cache, t.pcpgen)
	if err != nil {
		return err
	}
	ti, err := ensureTSDB(t, ci)
	if err != nil {
		return err
	}
	logf("warming the page cache with the corpus and the TSDB")
	warmPageCache(ci.HostDir, ti.Dir)

	res := &results{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machineInfo(),
		Server:  t.oursRev,
		Corpus:  ci,
		TSDB:    ti,
		Options: map[string]any{"scale": o.scale, "seed": o.seed, "warm_repetitions": o.warm},
	}
	// A quarter of the corpus, uncompressed, holds the largest answer
	// (every series over 4 days is an eighth of the full corpus).
	b := &bench{t: t, ci: ci, ti: ti, o: o, res: res, answers: newAnswerBuf(int(max(64<<20, ci.RawBytes/4)))}
	b.defineQueries()
	if t.tableFlag {
		logf("== tables (the server has --cache.dir)")
		if err := b.buildTables(); err != nil {
			logf("tables: %v", err)
			res.Errors = append(res.Errors, "tables: "+err.Error())
		}
	}
	for _, s := range []struct {
		name string
		f    func() error
	}{
		{"decode", b.decode}, {"first", b.firstQueries}, {"remote", b.remoteRead}, {"promql", b.promql},
		{"range", b.ranges}, {"concurrency", b.concurrency}, {"history", b.history},
	} {
		if !o.sections[s.name] {
			continue
		}
		logf("== %s", s.name)
		if err := s.f(); err != nil {
			// Record and carry on: one broken section should not hide
			// the others' numbers.
			logf("%s: %v", s.name, err)
			res.Errors = append(res.Errors, s.name+": "+err.Error())
		}
	}
	if o.profile {
		logf("== profiles")
		if err := b.profiles(); err != nil {
			logf("profiles: %v", err)
			res.Errors = append(res.Errors, "profiles: "+err.Error())
		}
	}
	res.Machine.LoadAfter = loadAvg()
	res.ServerWarnings = t.serverWarnings()
	return writeResults(o, res)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/pcp-remote-read/pcp-remote-read") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the pcp-remote-read repository")
		}
		dir = parent
	}
}

type machine struct {
	NProc      int    `json:"nproc"`
	MemBytes   int64  `json:"memory_bytes"`
	CPU        string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	PCP        string `json:"pcp_version"`
	Prometheus string `json:"prometheus"`
	Promtool   string `json:"promtool"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

func machineInfo() machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadAvg()}
	if kb, err := meminfoKB("MemTotal"); err == nil {
		m.MemBytes = kb << 10
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := run(time.Minute, nil, "dpkg-query", "-W", "-f=${Version}", "libpcp3"); err == nil {
		m.PCP = string(out)
	}
	return m
}

func meminfoKB(field string) (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s not in /proc/meminfo", field)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	fs := strings.Fields(string(b))
	if len(fs) >= 3 {
		return strings.Join(fs[:3], " ")
	}
	return ""
}

// results is latest.json.
type results struct {
	Date     string         `json:"date"`
	Machine  machine        `json:"machine"`
	Server   string         `json:"server_revision"`
	Options  map[string]any `json:"options"`
	Corpus   *corpusInfo    `json:"corpus"`
	TSDB     *tsdbInfo      `json:"tsdb"`
	Tables   *tablesInfo    `json:"column_tables,omitempty"`
	Rows     []*row         `json:"rows"`
	Details  map[string]any `json:"details,omitempty"`
	Profiles []profile      `json:"profiles,omitempty"`
	Errors   []string       `json:"errors,omitempty"`

	ServerWarnings []string `json:"server_warnings,omitempty"`
}

func writeResults(o options, res *results) error {
	if err := os.MkdirAll(o.results, 0o755); err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = "latest"
		if o.scale != "full" {
			name = "latest-" + o.scale
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.results, name+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := renderMarkdown(res)
	if err := os.WriteFile(filepath.Join(o.results, name+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Println(md)
	logf("wrote %s/%s.md and %s.json", o.results, name, name)
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d section(s) failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}
