package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// tools are the programs the harness runs.
type tools struct {
	root, cache, bin, logs, tmp string
	ours, oursPprof             string // our server, and the same with net/http/pprof on $BENCH_PPROF_ADDR
	decoder                     string // bench/cmd/benchdecode, built from the same source
	oursRev                     string
	oursEnv                     []string
	prom3                       string
	pcpgen, pcpdecode           string
	self                        string
	genHash                     string

	// Servers that have --cache.dir (persistent column tables) get
	// tablesDir, never the default under $HOME.
	tableFlag bool
	tablesDir string
	nlog      atomic.Int64
}

// logFile names a new log file for a child process.
func (t *tools) logFile(tag string) string {
	return filepath.Join(t.logs, fmt.Sprintf("%03d-%s.log", t.nlog.Add(1), tag))
}

// serverWarnings collects the WARN and ERROR lines our servers logged
// during the run, by message.
func (t *tools) serverWarnings() []string {
	files, _ := filepath.Glob(filepath.Join(t.logs, "*-ours-*.log"))
	sort.Strings(files)
	count := map[string]int{}
	example := map[string]string{}
	var order []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "level=WARN") && !strings.Contains(l, "level=ERROR") {
				continue
			}
			msg := l
			if i := strings.Index(l, "msg="); i >= 0 {
				msg = l[i:]
				if j := strings.Index(msg, "\" "); j > 0 && strings.HasPrefix(msg, "msg=\"") {
					msg = msg[:j+1]
				} else if j := strings.IndexByte(msg, ' '); j > 0 && !strings.HasPrefix(msg, "msg=\"") {
					msg = msg[:j]
				}
			}
			if count[msg] == 0 {
				order = append(order, msg)
				example[msg] = l
			}
			count[msg]++
		}
	}
	var out []string
	for _, m := range order {
		out = append(out, fmt.Sprintf("%d x %s (e.g. %s)", count[m], m, truncate(example[m], 300)))
	}
	return out
}

func (t *tools) cacheArgs() []string {
	if !t.tableFlag {
		return nil
	}
	return []string{"--cache.dir=" + t.tablesDir}
}

func setupTools(root, rev string) (*tools, error) {
	t := &tools{root: root, cache: filepath.Join(root, "bench", "cache")}
	// BENCH_OURS_ENV (space-separated NAME=VALUE) is added to our server's
	// environment only, for experiments such as GOGC=50.
	t.oursEnv = strings.Fields(os.Getenv("BENCH_OURS_ENV"))
	t.bin = filepath.Join(t.cache, "bin")
	t.logs = filepath.Join(t.cache, "logs")
	os.RemoveAll(t.logs) // this run's logs only
	for _, d := range []string{t.bin, t.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	if t.tmp, err = os.MkdirTemp("", "pcp-bench-"); err != nil {
		return nil, err
	}
	if t.self, err = os.Executable(); err != nil {
		return nil, err
	}
	for _, need := range []string{"cc", "xz", "promtool", "taskset", "git", "go"} {
		if _, err := exec.LookPath(need); err != nil {
			return nil, fmt.Errorf("%s not found: the benchmark needs cc, xz, promtool (apt: prometheus), taskset, git and go", need)
		}
	}
	for _, h := range []string{"/usr/include/pcp/pmapi.h", "/usr/include/pcp/import.h"} {
		if _, err := os.Stat(h); err != nil {
			return nil, fmt.Errorf("%s missing: apt-get install libpcp3-dev libpcp-import1-dev", h)
		}
	}

	// The C programs, rebuilt when their source changes.
	src := filepath.Join(root, "bench", "pcpgen.c")
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	t.genHash = hex.EncodeToString(sum[:8])
	t.pcpgen = filepath.Join(t.bin, "pcpgen")
	t.pcpdecode = filepath.Join(t.bin, "pcpdecode")
	if err := ccBuild(filepath.Join(root, "bench", "pcpgen.c"), t.pcpgen, "-lpcp_import", "-lpcp", "-lm"); err != nil {
		return nil, err
	}
	if err := ccBuild(filepath.Join(root, "bench", "pcpdecode.c"), t.pcpdecode, "-lpcp"); err != nil {
		return nil, err
	}

	// Prometheus 3.x: `make prometheus3` builds bin/prometheus3.
	t.prom3 = filepath.Join(root, "bin", "prometheus3")
	if _, err := os.Stat(t.prom3); err != nil {
		logf("building bin/prometheus3 (make prometheus3, once)")
		if _, err := run(30*time.Minute, nil, "make", "-C", root, "prometheus3"); err != nil {
			return nil, err
		}
	}

	// Our server, from a snapshot of the working tree (or of rev), with a
	// second build that adds net/http/pprof for the profiles. Nothing is
	// written into the repository's own source folders.
	if err := t.buildServer(rev); err != nil {
		return nil, err
	}
	return t, nil
}

func ccBuild(src, out string, libs ...string) error {
	si, err := os.Stat(src)
	if err != nil {
		return err
	}
	if oi, err := os.Stat(out); err == nil && oi.ModTime().After(si.ModTime()) {
		return nil
	}
	args := append([]string{"cc", "-O2", "-Wall", "-o", out, src}, libs...)
	if _, err := run(5*time.Minute, nil, args...); err != nil {
		return fmt.Errorf("compile %s: %w", filepath.Base(src), err)
	}
	return nil
}

const pprofFile = `package main

// Added by bench/cmd/benchrun to a throwaway copy of the source: serves
// net/http/pprof on $BENCH_PPROF_ADDR (loopback) for the benchmark's
// profiles. Not part of pcp-remote-read.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("BENCH_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

func (t *tools) buildServer(rev string) error {
	snap := filepath.Join(t.tmp, "src")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		return err
	}
	describe, _ := run(time.Minute, nil, "git", "-C", t.root, "describe", "--always", "--tags")
	// Dirty means the source differs from the commit: the results of the
	// run before, which every run rewrites, and documents do not count.
	if st, err := run(time.Minute, nil, "git", "-C", t.root, "status", "--porcelain", "--", ".", ":!bench/results", ":!*.md"); err != nil || len(bytes.TrimSpace(st)) > 0 {
		describe = append(bytes.TrimSpace(describe), "-dirty"...)
	}
	if rev != "" {
		full, err := run(time.Minute, nil, "git", "-C", t.root, "rev-parse", "--short", rev)
		if err != nil {
			return err
		}
		t.oursRev = strings.TrimSpace(string(full)) + " (BENCH_REV=" + rev + ")"
		cmd := fmt.Sprintf("git -C %q archive %q | tar -x -C %q", t.root, rev, snap)
		if _, err := run(5*time.Minute, nil, "sh", "-c", cmd); err != nil {
			return err
		}
	} else {
		t.oursRev = strings.TrimSpace(string(describe)) + " (working tree)"
		out, err := run(time.Minute, nil, "git", "-C", t.root, "ls-files", "-z", "-c", "-o", "--exclude-standard")
		if err != nil {
			return err
		}
		for _, f := range bytes.Split(out, []byte{0}) {
			if len(f) == 0 {
				continue
			}
			name := string(f)
			data, err := os.ReadFile(filepath.Join(t.root, name))
			if err != nil {
				continue // deleted in the working tree
			}
			dst := filepath.Join(snap, name)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
		}
	}
	t.ours = filepath.Join(t.bin, "pcp-remote-read")
	t.oursPprof = filepath.Join(t.bin, "pcp-remote-read-pprof")
	logf("building pcp-remote-read from %s", t.oursRev)
	env := []string{"CGO_ENABLED=0"}
	build := func(out string) error {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/pcp-remote-read")
		cmd.Dir = snap
		cmd.Env = append(os.Environ(), env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build of pcp-remote-read (%s) failed; set BENCH_REV=HEAD to measure the last commit:\n%s", t.oursRev, msg)
		}
		return nil
	}
	if err := build(t.ours); err != nil {
		return err
	}
	// The decode loop, built from the same snapshot (a BENCH_REV older
	// than bench/ gets today's benchdecode, which uses archive's public
	// API only).
	src, err := os.ReadFile(filepath.Join(t.root, "bench", "cmd", "benchdecode", "main.go"))
	if err != nil {
		return err
	}
	os.MkdirAll(filepath.Join(snap, "bench", "cmd", "benchdecode"), 0o755)
	if err := os.WriteFile(filepath.Join(snap, "bench", "cmd", "benchdecode", "main.go"), src, 0o644); err != nil {
		return err
	}
	t.decoder = filepath.Join(t.bin, "benchdecode")
	cmd := exec.Command("go", "build", "-trimpath", "-o", t.decoder, "./bench/cmd/benchdecode")
	cmd.Dir = snap
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of benchdecode (%s): %v\n%s", t.oursRev, err, msg)
	}
	help, _ := exec.Command(t.ours, "-h").CombinedOutput()
	t.tableFlag = bytes.Contains(help, []byte("-cache.dir"))
	t.tablesDir = filepath.Join(t.tmp, "tables")
	if err := os.WriteFile(filepath.Join(snap, "cmd", "pcp-remote-read", "zz_benchpprof.go"), []byte(pprofFile), 0o644); err != nil {
		return err
	}
	return build(t.oursPprof)
}
