package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

var (
	loadClients  = flag.Int("load.clients", 8, "concurrent clients of TestLoad (make soak: 32)")
	loadDuration = flag.Duration("load.duration", 5*time.Second, "how long TestLoad runs (make soak: 60s)")
	loadMax      = flag.Int("load.max-requests", 500000, "most requests TestLoad sends")
)

// procStatus reads a field of /proc/self/status in kB.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return -1
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// settle waits until f() is at most limit, and returns its last value.
func settle(f func() int, limit int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := f()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
}

// The demo set's span and metrics, for random queries.
const (
	demoStart = int64(1794960000000) // 2026-11-18T00:00:00Z
	demoEnd   = int64(1795158000000) // 2026-11-20T07:00:00Z
)

var demoMetrics = []string{
	"kernel_all_load", "kernel_all_cpu_user", "kernel_all_cpu_sys", "kernel_all_pswitch", "mem_util_used",
	"mem_util_free", "disk_dev_read_bytes", "disk_dev_write_bytes", "network_interface_in_bytes", "kernel_percpu_cpu_user",
}

// loadStats counts what the clients saw.
type loadStats struct {
	mu       sync.Mutex
	byKind   map[string]map[int]int
	lat      []time.Duration
	failures []string
	bytes    atomic.Int64
}

func (s *loadStats) note(kind string, code int, d time.Duration, fail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKind[kind] == nil {
		s.byKind[kind] = map[int]int{}
	}
	s.byKind[kind][code]++
	s.lat = append(s.lat, d)
	if fail != "" && len(s.failures) < 20 {
		s.failures = append(s.failures, kind+": "+fail)
	}
}

// TestLoad runs concurrent clients mixing remote read (both response types)
// and PromQL over the demo set, on loopback, for -load.duration (at most
// -load.max-requests requests): no 5xx, every answer decodes, and after it
// ends no goroutine or file descriptor is left behind. It reports the
// request rate, latencies and the process's peak RSS.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	srv := startLogged(t, "--archive.rescan-interval=0", "--log.level=info", filepath.Join(pcptest.RepoRoot(t), "testdata", "demo"))
	tr := &http.Transport{MaxIdleConnsPerHost: *loadClients}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	// Warm up (every archive's metadata in the cache), then take the
	// baseline with no client connection open.
	for _, h := range []string{"demo-db1", "demo-web1"} {
		readHost(t, srv.base, h, false)
	}
	tr.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	g0, fd0, rss0 := runtime.NumGoroutine(), openFDs(), procStatus("VmRSS")

	st := &loadStats{byKind: map[string]map[int]int{}}
	var sent atomic.Int64
	deadline := time.Now().Add(*loadDuration)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range *loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(c)))
			for time.Now().Before(deadline) && sent.Add(1) <= int64(*loadMax) {
				loadRequest(client, srv.base, rng, st)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak := procStatus("VmHWM")

	tr.CloseIdleConnections()
	g1 := settle(runtime.NumGoroutine, g0+2, 10*time.Second)
	// Each column table held keeps its file open once read (bounded by
	// the table store): not a leak. Tables dropped during the load close
	// their files when collected.
	tables := tablesHeld(getStatus(t, srv.base))
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	fd1 := settle(openFDs, fd0+tables, 10*time.Second)
	runtime.GC()
	rss1 := procStatus("VmRSS")

	sort.Slice(st.lat, func(i, j int) bool { return st.lat[i] < st.lat[j] })
	n := len(st.lat)
	pct := func(p float64) time.Duration {
		if n == 0 {
			return 0
		}
		return st.lat[min(n-1, int(p*float64(n)))].Round(time.Millisecond)
	}
	var kinds []string
	for k, codes := range st.byKind {
		kinds = append(kinds, fmt.Sprintf("%s %v", k, codes))
		for code := range codes {
			if code >= 500 {
				t.Errorf("%s: %d answers %d", k, codes[code], code)
			}
		}
	}
	sort.Strings(kinds)
	t.Logf("load: %d clients, %v, %d requests (%.0f/s), %.1f MB answered; latency p50 %v p90 %v p99 %v max %v",
		*loadClients, elapsed.Round(time.Millisecond), n, float64(n)/elapsed.Seconds(), float64(st.bytes.Load())/1e6, pct(.5), pct(.9), pct(.99), pct(1))
	t.Logf("load: by kind and status: %s", strings.Join(kinds, "; "))
	t.Logf("load: goroutines %d before, %d after; fds %d before, %d after (%d tables held); RSS %d MB before, peak %d MB, %d MB after",
		g0, g1, fd0, fd1, tables, rss0/1024, peak/1024, rss1/1024)
	for _, f := range st.failures {
		t.Errorf("%s", f)
	}
	if n == 0 {
		t.Fatal("no request was sent")
	}
	if g1 > g0+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after the load:\n%s", g0, g1, buf[:runtime.Stack(buf, true)])
	}
	if fd1 > fd0+tables {
		t.Errorf("file descriptors: %d before, %d after the load (%d tables held)", fd0, fd1, tables)
	}
	// The demo set is small; the cache holds all of it. Far below the
	// configured bounds (--cache.bytes 512 MiB, --query.max-samples).
	if peak > 2<<20 {
		t.Errorf("peak RSS %d MB", peak/1024)
	}
	mustHealthy(t, srv.base)
	srv.logs.noErrors(t)
}

// loadRequest sends one random request and checks its answer.
func loadRequest(client *http.Client, base string, rng *rand.Rand, st *loadStats) {
	host := []string{"demo-db1", "demo-web1"}[rng.Intn(2)]
	metric := demoMetrics[rng.Intn(len(demoMetrics))]
	span := int64(rng.Intn(6)+1) * 3600_000
	from := demoStart + rng.Int63n(demoEnd-demoStart-span)
	kind := []string{"read-samples", "read-streamed", "query_range", "query"}[rng.Intn(4)]
	if rng.Intn(50) == 0 {
		kind = "read-host" // every sample of a host: 100,000 of them, streamed
	}
	var (
		resp *http.Response
		err  error
	)
	t0 := time.Now()
	switch kind {
	case "read-host":
		body, _ := remoteread.EncodeReadRequest(&prompb.ReadRequest{Queries: []*prompb.Query{everything(host)},
			AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}})
		hreq, _ := http.NewRequest(http.MethodPost, base+"/api/v1/read", bytes.NewReader(body))
		hreq.Header.Set("Content-Type", remoteread.ContentTypeSamples)
		hreq.Header.Set("Content-Encoding", "snappy")
		resp, err = client.Do(hreq)
	case "read-samples", "read-streamed":
		req := &prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: from, EndTimestampMs: from + span,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: metric}, {Type: prompb.LabelMatcher_EQ, Name: "hostname", Value: host}}}}}
		if kind == "read-streamed" {
			req.AcceptedResponseTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES}
		}
		body, _ := remoteread.EncodeReadRequest(req)
		hreq, _ := http.NewRequest(http.MethodPost, base+"/api/v1/read", bytes.NewReader(body))
		hreq.Header.Set("Content-Type", remoteread.ContentTypeSamples)
		hreq.Header.Set("Content-Encoding", "snappy")
		resp, err = client.Do(hreq)
	case "query_range":
		q := fmt.Sprintf(`sum by (hostname) (rate(%s[5m]))`, metric)
		if rng.Intn(2) == 0 {
			q = fmt.Sprintf(`%s{hostname=%q}`, metric, host)
		}
		resp, err = client.Get(base + "/api/v1/query_range?" + url.Values{"query": {q}, "start": {seconds(from)}, "end": {seconds(from + span)}, "step": {"60"}}.Encode())
	case "query":
		resp, err = client.Get(base + "/api/v1/query?" + url.Values{"query": {fmt.Sprintf(`max_over_time(%s[1h])`, metric)}, "time": {seconds(from + span)}}.Encode())
	}
	if err != nil {
		st.note(kind, 0, time.Since(t0), err.Error())
		return
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	st.bytes.Add(int64(len(b)))
	fail := ""
	switch {
	case err != nil:
		fail = "reading the answer: " + err.Error()
	case resp.StatusCode != 200:
		fail = fmt.Sprintf("%d: %s", resp.StatusCode, pcptest.Tail(string(b), 200))
	case kind == "read-samples":
		if _, err := remoteread.DecodeReadResponse(b); err != nil {
			fail = err.Error()
		}
	case kind == "read-streamed" || kind == "read-host":
		if _, err := remoteread.ReadChunkedFrames(bytes.NewReader(b), 1<<30); err != nil {
			fail = err.Error()
		}
	default:
		if !bytes.HasPrefix(b, []byte(`{"status":"success"`)) {
			fail = pcptest.Tail(string(b), 200)
		}
	}
	st.note(kind, resp.StatusCode, d, fail)
}

// tablesHeld is how many column tables a server holds, each with its file
// open at most.
func tablesHeld(st multiarchive.Status) int { return st.Tables.Loaded + st.Tables.Prefixes }
