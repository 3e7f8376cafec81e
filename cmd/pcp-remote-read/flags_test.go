package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// Tests of the command line and of the checks made at start.

// parse is parseFlags with the help discarded.
func parse(t *testing.T, args ...string) (*config, error) {
	t.Helper()
	return parseFlags(args, io.Discard, io.Discard)
}

// serveExit runs runServe to its exit (every call here fails or prints
// before serving) and returns the code, stdout and stderr.
func serveExit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := runServe(ctx, args, &stdout, &stderr)
	if ctx.Err() != nil {
		t.Fatalf("runServe %q served instead of exiting", args)
	}
	return code, stdout.String(), stderr.String()
}

func demoDir(t *testing.T) string {
	return filepath.Join(pcptest.RepoRoot(t), "testdata", "archives", "v3-basic")
}

func TestFlagDefaults(t *testing.T) {
	c, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		listen: ":9201", logLevel: "info", logFormat: "logfmt", rescan: time.Minute,
		cacheArchives: 16, cacheBytes: 512 << 20, tableDir: defaultTableDir(), tableMaxBytes: 10 << 30, tableBuilders: 1,
		maxSamples: 50_000_000, maxConcurrent: 10, lookbackDelta: 5 * time.Minute, queryTimeout: 2 * time.Minute,
		maxFrameBytes: 32 << 20, maxRequestSize: 32 << 20, stallTimeout: time.Minute,
	}
	// The flag values are checked below; the rest must be as above.
	if c.flagValues["cache.bytes"] != "512MiB" || c.flagValues["query.timeout"] != "2m0s" || c.flagValues["labels.external"] != "" {
		t.Errorf("flag values %v", c.flagValues)
	}
	for _, builtin := range []string{"help", "help-long", "version", "completion-bash"} {
		if _, ok := c.flagValues[builtin]; ok {
			t.Errorf("flag values list %s", builtin)
		}
	}
	got := *c
	got.flagValues = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

// Paths come from -a, --archive (repeatable, comma lists) and positional
// arguments, mixed with flags in any order; after "--" everything is a path.
func TestFlagPaths(t *testing.T) {
	c, err := parse(t, "p1", "-a", "a1", "--log.level=warn", "p2", "-aa2", "--archive=a3,a4", "--archive", "a5", "--", "-p3")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a1", "a2", "a3,a4", "a5", "p1", "p2", "-p3"}
	if !reflect.DeepEqual(c.archives, want) || c.logLevel != "warn" {
		t.Errorf("archives %q (level %s), want %q", c.archives, c.logLevel, want)
	}
}

func TestFlagCacheBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"512MiB": 512 << 20, "1GiB": 1 << 30, "64KiB": 64 << 10, "1048576": 1 << 20,
		"512MB": 512 << 20, "1.5GiB": 3 << 29, "0": 0, "268435456": 256 << 20,
	} {
		c, err := parse(t, "--cache.bytes="+in)
		if err != nil || c.cacheBytes != want {
			t.Errorf("--cache.bytes=%s: %d, %v; want %d", in, c.safeBytes(), err, want)
		}
	}
	for in, msg := range map[string]string{
		"-1MiB": "negative", "-5": "negative", "lots": "not a size", "1kB": "not a size",
		"10 MiB": "not a size", "": "not a size", "1XiB": "not a size",
	} {
		_, err := parse(t, "--cache.bytes="+in)
		if err == nil || !strings.Contains(err.Error(), "--cache.bytes") || !strings.Contains(err.Error(), msg) {
			t.Errorf("--cache.bytes=%q: error %v, want one naming the flag and saying %q", in, err, msg)
		}
	}
}

// safeBytes is cacheBytes of a config that may be nil.
func (c *config) safeBytes() int64 {
	if c == nil {
		return -1
	}
	return c.cacheBytes
}

func TestFlagDurations(t *testing.T) {
	_, err := parse(t, "--archive.rescan-interval=5")
	if want := `--archive.rescan-interval: "5" needs a unit, e.g. 5s or 1m`; err == nil || err.Error() != want {
		t.Errorf("bare number: %v, want %s", err, want)
	}
	for _, f := range []string{"web.stall-timeout", "query.lookback-delta", "query.timeout"} {
		if _, err := parse(t, "--"+f+"=30"); err == nil || !strings.Contains(err.Error(), "--"+f+`: "30" needs a unit`) {
			t.Errorf("--%s=30: %v", f, err)
		}
	}
	for in, want := range map[string]time.Duration{"1m30s": 90 * time.Second, "0": 0, "100ms": 100 * time.Millisecond, "2h": 2 * time.Hour} {
		c, err := parse(t, "--archive.rescan-interval="+in)
		if err != nil || c.rescan != want {
			t.Errorf("--archive.rescan-interval=%s: %v, want %v", in, err, want)
		}
	}
	for in, msg := range map[string]string{"-1m": "negative", "soon": "not a duration", "5x": "not a duration"} {
		if _, err := parse(t, "--archive.rescan-interval="+in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("--archive.rescan-interval=%s: %v, want %q", in, err, msg)
		}
	}
	code, _, stderr := serveExit(t, "--query.timeout=0", demoDir(t))
	if code != 2 || !strings.Contains(stderr, "--query.timeout must be > 0") {
		t.Errorf("--query.timeout=0: exit %d, %s", code, stderr)
	}
}

func TestFlagListenAddress(t *testing.T) {
	err := checkListen("9299")
	if err == nil || !strings.Contains(err.Error(), `did you mean ":9299"?`) {
		t.Errorf("bare port: %v", err)
	}
	if err := checkListen("localhost"); err == nil || !strings.Contains(err.Error(), "want host:port") {
		t.Errorf("no port: %v", err)
	}
	for _, ok := range []string{":9201", "127.0.0.1:9201", "[::1]:9201", "localhost:0"} {
		if err := checkListen(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	code, _, stderr := serveExit(t, "--web.listen-address=9299", demoDir(t))
	if code != 2 || !strings.Contains(stderr, `did you mean ":9299"?`) {
		t.Errorf("exit %d, %s", code, stderr)
	}
}

func TestFlagErrors(t *testing.T) {
	for args, msg := range map[string]string{
		"--bogus":                                       "unknown long flag '--bogus'",
		"-web.listen-address=:1":                        "long flags take two dashes: --web.listen-address=:1",
		"-archive=/x":                                   "long flags take two dashes: --archive=/x",
		"-version":                                      "--version",
		"--no-version /":                                "--no-version: leave the flag out",
		"--log.level=info --log.level=debug":            "cannot be repeated",
		"--cache.archives=many":                         `--cache.archives: "many" is not an integer`,
		"--query.max-concurrency=0 /":                   "--query.max-concurrency must be > 0",
		"--remote-read.max-bytes-in-frame=0 /":          "--remote-read.max-bytes-in-frame must be > 0",
		"--web.listen-address":                          "expected argument for flag '--web.listen-address'",
		"--labels.external=shard /":                     `"shard": want NAME=VALUE`,
		"--labels.external=shard= /":                    `external label "shard" has an empty value`,
		"--labels.external=__x=1 /":                     `external label name "__x"`,
		"--labels.external=a-b=1 /":                     `external label name "a-b"`,
		"--labels.external=s=a --labels.external=s=b /": "label s given twice",
	} {
		code, _, stderr := serveExit(t, strings.Fields(args)...)
		if code != 2 || !strings.Contains(stderr, msg) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", args, code, stderr, msg)
		}
	}
}

func TestFlagHelpAndVersion(t *testing.T) {
	for _, h := range []string{"--help", "-h"} {
		code, stdout, stderr := serveExit(t, h)
		if code != 0 || stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", h, code, stderr)
		}
		// Headings in order, each with its flags in the double-dash style.
		at := 0
		for _, want := range []string{
			"usage: pcp-remote-read [<flags>] [PATH...]", "dump [-meta] [-index] ARCHIVE",
			"General:", "-h, --[no-]help", "--[no-]version",
			"Archives:", "-a, --archive=PATH ...", "--archive.rescan-interval=1m",
			"HTTP server:", `--web.listen-address=":9201"`, "--web.config.file=FILE", "--web.stall-timeout=1m",
			"Logging:", "--log.level=", "--log.format=",
			"Caches:", "--cache.archives=16", "--cache.bytes=512MiB", "--cache.dir=",
			"Queries:", "--query.max-samples=50000000", "--query.max-concurrency=10", "--query.lookback-delta=5m", "--query.timeout=2m",
			"Remote read:", "--remote-read.max-bytes-in-frame=33554432", "--remote-read.max-request-bytes=33554432",
			"PATH...",
		} {
			i := strings.Index(stdout[at:], want)
			if i < 0 {
				t.Fatalf("%s: %q missing or out of order in:\n%s", h, want, stdout)
			}
			at += i + len(want)
		}
		if strings.Contains(stdout, "--[no-]help-long") || strings.Contains(stdout, "completion") {
			t.Errorf("hidden flags shown:\n%s", stdout)
		}
	}
	code, stdout, _ := serveExit(t, "--version")
	if code != 0 || stdout != "pcp-remote-read "+version+"\n" {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
}

// The dump subcommand keeps its own flags.
func TestDumpFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	base := filepath.Join(demoDir(t), "v3-basic")
	if code := run(context.Background(), []string{"dump", "-meta", base}, &stdout, &stderr); code != 0 || stdout.Len() == 0 {
		t.Errorf("dump -meta: exit %d, %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"dump", "--bogus", base}, io.Discard, io.Discard); code != 2 {
		t.Errorf("dump --bogus: exit %d, want 2", code)
	}
}

func TestMissingPath(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "no-such-dir")
	code, _, stderr := serveExit(t, "--cache.dir=", missing)
	if code != 2 || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "no such file, directory or archive") {
		t.Errorf("positional: exit %d, %q", code, stderr)
	}
	code, _, stderr = serveExit(t, "--cache.dir=", "-a", demoDir(t)+","+missing)
	if code != 2 || !strings.Contains(stderr, missing) || strings.Contains(stderr, "v3-basic") {
		t.Errorf("in a comma list: exit %d, %q", code, stderr)
	}
	// What exists is fine: a directory, an archive file, a base name.
	base := filepath.Join(demoDir(t), "v3-basic")
	if err := checkPathsExist([]string{tmp, base + ".meta", base, " " + tmp + " ,"}); err != nil {
		t.Error(err)
	}
}

// A directory that exists but holds no archive yet is served (empty) and
// the server gets ready.
func TestEmptyDirServed(t *testing.T) {
	srv := startLogged(t, "--archive.rescan-interval=0", t.TempDir())
	if st := getStatus(t, srv.base); len(st.Hosts) != 0 {
		t.Errorf("hosts %v in an empty directory", st.Hosts)
	}
}

func TestCacheDirInsideArchives(t *testing.T) {
	root := t.TempDir()
	arch := filepath.Join(root, "b")
	sibling := filepath.Join(root, "bc")
	link := filepath.Join(root, "link")
	for _, d := range []string{filepath.Join(arch, "host"), sibling} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(arch, "host", "a.meta"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(arch, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cache string
		paths []string
		bad   bool
	}{
		{arch, []string{arch}, true},                                                         // the directory itself
		{filepath.Join(arch, "host", "t", "new"), []string{arch}, true},                      // nested, not yet made
		{arch + "/./host/../host", []string{arch}, true},                                     // unclean
		{filepath.Join(link, "t"), []string{arch}, true},                                     // through a link
		{filepath.Join(arch, "t"), []string{link}, true},                                     // path is the link
		{filepath.Join(arch, "host"), []string{filepath.Join(arch, "host", "a.meta")}, true}, // archive file
		{filepath.Join(arch, "host", "t"), []string{filepath.Join(arch, "host", "a")}, true}, // base name
		{filepath.Join(arch, "t"), []string{sibling + "," + arch}, true},                     // in a comma list
		{sibling, []string{arch}, false},                                                     // /a/bc is not in /a/b
		{root, []string{arch}, false},                                                        // a parent is fine
		{filepath.Join(arch, "t"), []string{filepath.Join(arch, "host")}, false},             // beside, not inside
		{"", []string{arch}, false},                                                          // tables disabled
	} {
		err := checkCacheDir(tc.cache, tc.paths)
		if (err != nil) != tc.bad {
			t.Errorf("cache %s, paths %v: %v, want refused %v", tc.cache, tc.paths, err, tc.bad)
		}
		if err != nil && !strings.Contains(err.Error(), "--cache.dir") {
			t.Errorf("error does not name the flag: %v", err)
		}
	}
	// At start: exit 2, also for the $PCP_ARCHIVE_DIR default.
	code, _, stderr := serveExit(t, "--cache.dir="+filepath.Join(arch, "tables"), arch)
	if code != 2 || !strings.Contains(stderr, "is inside the archive directory "+arch) {
		t.Errorf("exit %d, %q", code, stderr)
	}
	t.Setenv("PCP_ARCHIVE_DIR", arch)
	code, _, stderr = serveExit(t, "--cache.dir="+filepath.Join(arch, "host", "tables"))
	if code != 2 || !strings.Contains(stderr, "--cache.dir") {
		t.Errorf("$PCP_ARCHIVE_DIR: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(arch, "tables")); !os.IsNotExist(err) {
		t.Errorf("refused cache directory was created: %v", err)
	}
}

// A cache directory no table can be written to (a path under a regular
// file fails even as root) disables tables with a warning; the server
// serves, and /status says why.
func TestCacheDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "sub")
	srv := startLogged(t, "--cache.dir="+dir, "--archive.rescan-interval=0", demoDir(t))

	var warned bool
	for _, l := range srv.logs.atLeast("WARN") {
		if strings.Contains(l.msg(), "--cache.dir is unusable") && l["dir"] == dir && strings.Contains(l.String(), "not a directory") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no WARN about the cache directory in:\n%s", srv.logs.String())
	}
	st := getStatus(t, srv.base)
	if st.Tables.Dir != dir || !strings.Contains(st.Tables.Problem, "not a directory") {
		t.Errorf("/status tables: %+v", st.Tables)
	}
	code, page := httpGet(t, srv.base+"/status")
	if code != 200 || !strings.Contains(page, "Column tables disabled") || !strings.Contains(page, "not a directory") {
		t.Errorf("/status page: %d\n%s", code, page)
	}
	if len(st.Hosts) != 1 {
		t.Fatalf("hosts %v", st.Hosts)
	}
	if got := readHost(t, srv.base, st.Hosts[0].Host, true); len(got) == 0 {
		t.Error("no series served without tables")
	}
}

// TestFlagExternalLabels: --labels.external is repeatable, keeps "=" in a
// value, and reaches both the remote-read options and the flag values
// /api/v1/status/flags shows.
func TestFlagExternalLabels(t *testing.T) {
	c, err := parse(t, "--labels.external=shard=a", "--labels.external", "site=x=y z", "/")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.externalLabels.String(); got != `{shard="a", site="x=y z"}` {
		t.Errorf("external labels %s", got)
	}
	if got := c.readOptions().ExternalLabels; !labels.Equal(got, c.externalLabels) {
		t.Errorf("read options' external labels %s", got)
	}
	if got := c.flagValues["labels.external"]; got != "shard=a,site=x=y z" {
		t.Errorf("flag value %q", got)
	}
	if got := c.flagValues["web.listen-address"]; got != defaultListen {
		t.Errorf("web.listen-address flag value %q, want the default %q", got, defaultListen)
	}
}
