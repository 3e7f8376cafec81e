package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// Helpers of the hardening tests: an in-process server whose JSON log is
// kept, and clients for remote read, /status and /metrics.

// logBuffer collects a server's log; safe for concurrent use.
type logBuffer struct{ pcptest.LogBuffer }

// logLine is one line of the JSON log.
type logLine map[string]any

func (l logLine) level() string { s, _ := l["level"].(string); return s }
func (l logLine) msg() string   { s, _ := l["msg"].(string); return s }

func (l logLine) String() string {
	b, _ := json.Marshal(l)
	return string(b)
}

// lines parses the log; a line that is not JSON (a panic trace, net/http's
// own logger) is kept with level "RAW".
func (b *logBuffer) lines() []logLine {
	var out []logLine
	for _, s := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			l = logLine{"level": "RAW", "msg": s}
		}
		out = append(out, l)
	}
	return out
}

// atLeast returns the lines at level ERROR (or, with warn, WARN too) and
// every raw line.
func (b *logBuffer) atLeast(level string) []logLine {
	rank := map[string]int{"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3, "RAW": 4}
	var out []logLine
	for _, l := range b.lines() {
		if rank[l.level()] >= rank[level] {
			out = append(out, l)
		}
	}
	return out
}

// noErrors fails the test for every line logged at level ERROR and every
// raw line.
func (b *logBuffer) noErrors(t testing.TB) {
	t.Helper()
	for _, l := range b.atLeast("ERROR") {
		t.Errorf("logged at error level: %s", l)
	}
}

type testServer struct {
	pid  int // of a server in another process; 0 in this one
	base string
	logs *logBuffer
	stop func() int // stops the server and returns run's exit code; idempotent
}

// runInProcess runs the server in this process with argv, its output to
// logs; done receives run's exit code. The returned stop is idempotent.
func runInProcess(t testing.TB, argv []string, logs io.Writer, done chan int) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, argv, logs, logs) }()
	go func() {
		code := <-exited
		done <- code
	}()
	var once sync.Once
	code := 0
	return func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("server did not stop within 30s")
			}
		})
		return code
	}
}

// startLogged runs the server in this process on a free loopback port with
// a JSON debug log, waits until it is ready and stops it when the test ends.
func startLogged(t testing.TB, args ...string) *testServer {
	t.Helper()
	addr, argv := loggedArgs(t, args)
	logs := &logBuffer{}
	done := make(chan int, 1)
	s := &testServer{base: "http://" + addr, logs: logs}
	s.stop = runInProcess(t, argv, logs, done)
	s.watch(t, done)
	return s
}

// loggedArgs is a test server's command line: a free loopback port, a JSON
// debug log and a cache directory of its own, then args. A flag in args
// replaces the default of the same name: a flag given twice is an error.
func loggedArgs(t testing.TB, args []string) (addr string, argv []string) {
	t.Helper()
	addr = pcptest.FreePort(t)
	for _, d := range []string{"--web.listen-address=" + addr, "--log.format=json", "--log.level=debug", "--cache.dir=" + cacheDir(t)} {
		if !hasFlag(args, d) {
			argv = append(argv, d)
		}
	}
	return addr, append(argv, args...)
}

// hasFlag reports whether args set the flag that def ("--name=value") sets.
func hasFlag(args []string, def string) bool {
	name, _, _ := strings.Cut(def, "=")
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// watch stops s when the test ends, showing the tail of its log if the
// test failed, and waits until s is ready (done says it exited first).
func (s *testServer) watch(t testing.TB, done chan int) {
	t.Helper()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log (tail):\n%s", pcptest.Tail(s.logs.String(), 4000))
		}
	})
	pcptest.WaitReady(t, s.base+"/-/ready", 30*time.Second, done)
}

// cacheDir is a --cache.dir of the test's own, so tests leave nothing in
// the user's cache.
func cacheDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pcp-remote-read-cache-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755) // a server running as nobody writes here too
	os.Chown(d, 65534, 65534)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// everything is a query for every sample of every metric of a host.
func everything(host string) *prompb.Query {
	return &prompb.Query{
		StartTimestampMs: math.MinInt64 / 2, EndTimestampMs: math.MaxInt64 / 2,
		Matchers: []*prompb.LabelMatcher{
			{Type: prompb.LabelMatcher_EQ, Name: "hostname", Value: host},
			{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: ".+"},
		},
	}
}

// postRead sends a remote-read request and returns the status and body.
func postRead(t testing.TB, client *http.Client, base string, req *prompb.ReadRequest) (int, http.Header, []byte) {
	t.Helper()
	body, err := remoteread.EncodeReadRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return postRaw(t, client, base+"/api/v1/read", "application/x-protobuf", body)
}

func postRaw(t testing.TB, client *http.Client, url, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	hreq, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", contentType)
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

// decodeRead decodes a 200 remote-read answer of either type into series
// keyed by pcptest.SeriesKey (query index ignored).
func decodeRead(t testing.TB, hdr http.Header, body []byte) map[string][]pcptest.Point {
	t.Helper()
	got := map[string][]pcptest.Point{}
	sb := labels.NewScratchBuilder(8)
	add := func(lset labels.Labels, pts []pcptest.Point) {
		k := pcptest.SeriesKey(lset.Get)
		if _, dup := got[k]; dup {
			t.Fatalf("series %s served twice", k)
		}
		got[k] = pts
	}
	if strings.HasPrefix(hdr.Get("Content-Type"), "application/x-streamed-protobuf") {
		frames, err := remoteread.ReadChunkedFrames(bytes.NewReader(body), 1<<30)
		if err != nil {
			t.Fatalf("streamed answer: %v", err)
		}
		for _, f := range frames {
			for _, cs := range f.ChunkedSeries {
				var pts []pcptest.Point
				for _, c := range cs.Chunks {
					ch, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
					if err != nil {
						t.Fatal(err)
					}
					it := ch.Iterator(nil)
					for it.Next() == chunkenc.ValFloat {
						ts, v := it.At()
						pts = append(pts, pcptest.Point{T: ts, V: v})
					}
					if it.Err() != nil {
						t.Fatal(it.Err())
					}
				}
				add(cs.ToLabels(&sb, nil), pts)
			}
		}
		return got
	}
	resp, err := remoteread.DecodeReadResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		for _, ts := range r.Timeseries {
			pts := make([]pcptest.Point, len(ts.Samples))
			for i, s := range ts.Samples {
				pts[i] = pcptest.Point{T: s.Timestamp, V: s.Value}
			}
			add(ts.ToLabels(&sb, nil), pts)
		}
	}
	return got
}

// readHost reads every sample of a host through remote read.
func readHost(t testing.TB, base, host string, streamed bool) map[string][]pcptest.Point {
	t.Helper()
	req := &prompb.ReadRequest{Queries: []*prompb.Query{everything(host)}}
	if streamed {
		req.AcceptedResponseTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES}
	}
	code, hdr, body := postRead(t, nil, base, req)
	if code != 200 {
		t.Fatalf("read %s: %d %s", host, code, body)
	}
	return decodeRead(t, hdr, body)
}

// labelKey is a label set as text, {name="value",...} sorted by name.
func labelKey(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func getStatus(t testing.TB, base string) multiarchive.Status {
	t.Helper()
	resp, err := http.Get(base + "/status?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st multiarchive.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// metricValues returns the values of the /metrics series of a name whose
// line contains every one of labels (e.g. `kind="internal"`), in order.
func metricValues(t testing.TB, base, name string, labels ...string) []float64 {
	t.Helper()
	_, text := httpGet(t, base+"/metrics")
	var out []float64
lines:
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				continue lines
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

// metricValue returns the value of the first /metrics series of a name
// whose line contains every one of labels; there must be one.
func metricValue(t testing.TB, base, name string, labels ...string) float64 {
	t.Helper()
	vs := metricValues(t, base, name, labels...)
	if len(vs) == 0 {
		t.Fatalf("no metric %s%v in /metrics", name, labels)
	}
	return vs[0]
}

// metricSum is the sum of the values of the /metrics series of a name
// whose line contains every one of labels (0 when there are none).
func metricSum(t testing.TB, base, name string, labels ...string) float64 {
	t.Helper()
	sum := 0.0
	for _, v := range metricValues(t, base, name, labels...) {
		sum += v
	}
	return sum
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustHealthy(t testing.TB, base string) {
	t.Helper()
	if code, body := httpGet(t, base+"/-/healthy"); code != 200 {
		t.Fatalf("/-/healthy: %d %s", code, body)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// serverBinary builds pcp-remote-read once per test run, into a directory
// every user can read (removed by TestMain).
func serverBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "pcp-remote-read-bin-")
		if buildErr != nil {
			return
		}
		if buildErr = os.Chmod(buildDir, 0o755); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "pcp-remote-read"), ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "pcp-remote-read")
}

// nobody returns the uid and gid of the unprivileged user "nobody".
func nobody(t testing.TB) (uint32, uint32) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody to run the server as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid)
}

// startAs runs the server binary as another user (root only), with a JSON
// debug log, and stops it when the test ends.
func startAs(t testing.TB, uid, gid uint32, args ...string) *testServer {
	t.Helper()
	bin := serverBinary(t)
	addr, argv := loggedArgs(t, args)
	logs := &logBuffer{}
	cmd := exec.Command(bin, argv...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		cmd.Wait()
		done <- cmd.ProcessState.ExitCode()
	}()
	var once sync.Once
	code := 0
	s := &testServer{base: "http://" + addr, logs: logs, pid: cmd.Process.Pid}
	s.stop = func() int {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				code = <-done
				t.Errorf("server ignored SIGTERM for 30s")
			}
		})
		return code
	}
	s.watch(t, done)
	return s
}

// startUnprivileged runs the server where file modes bind it: as root (who
// reads everything, CAP_DAC_OVERRIDE) the binary as the user nobody,
// otherwise in this process.
func startUnprivileged(t testing.TB, args ...string) *testServer {
	t.Helper()
	if os.Geteuid() != 0 {
		return startLogged(t, args...)
	}
	uid, gid := nobody(t)
	t.Logf("running as root: the server runs as nobody (uid %d) so that modes are enforced", uid)
	return startAs(t, uid, gid, args...)
}

// publicTempDir is t.TempDir made reachable by every user.
func publicTempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}
