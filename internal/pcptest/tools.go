package pcptest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// InCI reports whether tests run under CI, where a missing tool is a
// failure, not a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips the test when a tool is missing, or fails it in CI.
func Require(t testing.TB, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s is required under CI=true (make deps installs it)", what)
	}
	t.Skipf("%s not available (run make deps)", what)
}

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Prometheus2 returns Debian's prometheus binary (2.42 on bookworm).
func Prometheus2(t testing.TB) string {
	p, err := exec.LookPath("prometheus")
	Require(t, "prometheus 2.x (Debian package prometheus)", err == nil)
	return p
}

// Prometheus3 returns the Prometheus 3.x built from the prometheus module
// version in go.mod (make prometheus3, or $PROMETHEUS3).
func Prometheus3(t testing.TB) string {
	p := os.Getenv("PROMETHEUS3")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "prometheus3")
	}
	_, err := os.Stat(p)
	Require(t, "prometheus 3.x at "+p+" (make prometheus3)", err == nil)
	return p
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitReady polls url until it answers 200 or the timeout passes. exited,
// when not nil, receives the exit code of the server behind url: a server
// that ends before it is ready fails the test at once (the code is put back
// for whoever stops the server).
func WaitReady(t testing.TB, url string, timeout time.Duration, exited chan int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case code := <-exited:
			exited <- code
			t.Fatalf("server exited with %d before it was ready", code)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %v", url, timeout)
}

// StartPrometheus runs a Prometheus whose only data source is remote_read
// from readURL, and returns its base URL. extra is appended to the
// remote_read entry (YAML, indented by 4 spaces).
func StartPrometheus(t testing.TB, bin, readURL, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 15s
remote_read:
  - url: %s
    read_recent: true
    filter_external_labels: false
    remote_timeout: 1m
%s
`, readURL, extra)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--query.lookback-delta=5m")
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", Tail(string(b), 3000))
		}
	})
	base := "http://" + addr
	WaitReady(t, base+"/-/ready", 30*time.Second, nil)
	return base
}

// Tail is the last n bytes of s, marked "..." when s is longer: a log's
// end, for a failure message.
func Tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// APIResponse is Prometheus' HTTP API envelope.
type APIResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

// QueryResult is the data of a query or query_range answer.
type QueryResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
		Values [][]any           `json:"values"`
	} `json:"result"`
}

// API calls a Prometheus-style HTTP API endpoint with GET parameters.
func API(t testing.TB, base, path string, params url.Values) (int, APIResponse) {
	t.Helper()
	resp, err := http.Get(base + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r APIResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: decoding answer: %v", path, err)
	}
	return resp.StatusCode, r
}

// Query runs a PromQL query (instant when params has "time", range when it
// has "start") and fails the test on any error or warning.
func Query(t testing.TB, base string, params url.Values) QueryResult {
	t.Helper()
	path := "/api/v1/query"
	if params.Has("start") {
		path = "/api/v1/query_range"
	}
	code, r := API(t, base, path, params)
	if code != 200 || r.Status != "success" {
		t.Fatalf("%s %v: %d %s %s", path, params, code, r.ErrorType, r.Error)
	}
	if len(r.Warnings) > 0 {
		t.Fatalf("%s %v: warnings %s", path, params, strings.Join(r.Warnings, "; "))
	}
	var q QueryResult
	if err := json.Unmarshal(r.Data, &q); err != nil {
		t.Fatal(err)
	}
	return q
}
