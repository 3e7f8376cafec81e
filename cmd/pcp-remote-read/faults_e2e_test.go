package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// growArchive writes src's archive (uncompressed, one volume) to dir the
// way pmlogger does while it runs: .meta and .index first, then the volume
// a few records at a time, some records in two writes. It returns when the
// volume is whole, or ctx is done.
func growArchive(ctx context.Context, t testing.TB, src, dir string) {
	name := filepath.Base(src)
	for _, suffix := range []string{".meta", ".index"} {
		b, err := os.ReadFile(filepath.Join(src, name+suffix))
		if err != nil {
			t.Error(err)
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name+suffix), b, 0o644); err != nil {
			t.Error(err)
			return
		}
	}
	vol, err := os.ReadFile(filepath.Join(src, name+".0"))
	if err != nil {
		t.Error(err)
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".0"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	ll := 808
	if binary.BigEndian.Uint32(vol[4:])&0xff == 2 {
		ll = 132
	}
	f.Write(vol[:ll])
	rng := rand.New(rand.NewSource(1))
	for off := ll; off < len(vol); {
		n := 0
		for k := 0; k < 1+rng.Intn(4) && off+n < len(vol); k++ {
			n += int(binary.BigEndian.Uint32(vol[off+n:]))
		}
		chunk := vol[off : off+n]
		if rng.Intn(3) == 0 {
			// A torn write: the reader sees half a record for a moment.
			half := len(chunk) / 2
			f.Write(chunk[:half])
			time.Sleep(5 * time.Millisecond)
			chunk = chunk[half:]
		}
		f.Write(chunk)
		off += n
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// xz compresses a file as pmlogger_daily does: write the .xz, then remove
// the original.
func xz(t testing.TB, path string) {
	t.Helper()
	if out, err := exec.Command("xz", "-k", "-0", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("xz %s: %v %s", path, err, out)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// TestFaultsWhileServing changes the archives under a running server while
// clients query it: an archive grows (torn writes included), files are
// compressed to .xz (pmlogger_daily), a compressed volume is truncated and
// restored, a whole archive is deleted and restored, the live volume is cut
// in the middle of a record and restored. No request may fail with 5xx and
// nothing is logged at error level; afterwards every host is served exactly
// as libpcp reads it, and no problem is left in the status.
func TestFaultsWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	_, err := exec.LookPath("xz")
	pcptest.Require(t, "xz (Debian package xz-utils)", err == nil)
	repo := pcptest.RepoRoot(t)
	root := t.TempDir()
	demo := pcptest.CopyDemo(t, root)
	db, web, grow := filepath.Join(root, "demo-db1"), filepath.Join(root, "demo-web1"), filepath.Join(root, "vm")
	if err := os.MkdirAll(grow, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startLogged(t, "--archive.rescan-interval=100ms", "--log.level=info", root)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var growing sync.WaitGroup
	growing.Add(1)
	go func() {
		defer growing.Done()
		growArchive(ctx, t, filepath.Join(repo, "testdata", "archives", "v3-basic"), grow)
	}()

	// Clients: everything of a random host, or a PromQL range query.
	var (
		stop     atomic.Bool
		clients  sync.WaitGroup
		requests atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	fail := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, s)
		}
	}
	for c := range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			rng := rand.New(rand.NewSource(int64(c)))
			for !stop.Load() {
				requests.Add(1)
				host := []string{"demo-db1", "demo-web1", "vm"}[rng.Intn(3)]
				if rng.Intn(3) == 0 {
					resp, err := http.Get(srv.base + "/api/v1/query_range?" + url.Values{
						"query": {fmt.Sprintf(`rate(kernel_all_cpu_user{hostname=%q}[5m])`, host)},
						"start": {"1794960000"}, "end": {"1795160000"}, "step": {"300"}}.Encode())
					if err != nil {
						fail(err.Error())
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 500 {
						fail(fmt.Sprintf("query_range %s: %d %s", host, resp.StatusCode, pcptest.Tail(string(b), 300)))
					}
					continue
				}
				req := &prompb.ReadRequest{Queries: []*prompb.Query{everything(host)}}
				if rng.Intn(2) == 0 {
					req.AcceptedResponseTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}
				}
				code, hdr, b := postRead(t, nil, srv.base, req)
				switch {
				case code >= 500:
					fail(fmt.Sprintf("read %s: %d %s", host, code, pcptest.Tail(string(b), 300)))
				case code == 200 && strings.HasPrefix(hdr.Get("Content-Type"), "application/x-streamed"):
					if _, err := remoteread.ReadChunkedFrames(bytes.NewReader(b), 1<<30); err != nil {
						fail(fmt.Sprintf("read %s: %v", host, err))
					}
				case code == 200:
					if _, err := remoteread.DecodeReadResponse(b); err != nil {
						fail(fmt.Sprintf("read %s: %v", host, err))
					}
				}
			}
		}()
	}

	pause := func() { time.Sleep(400 * time.Millisecond) }
	save := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	restore := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pause()
	// pmlogger_daily compresses yesterday's archive of demo-web1.
	for _, f := range []string{"20261120.00.10.meta", "20261120.00.10.0"} {
		xz(t, filepath.Join(web, f))
		pause()
	}
	// A compressed volume of demo-db1 is cut in half, then restored.
	vol := filepath.Join(db, "20261119.0.xz")
	orig := save(vol)
	restore(vol, orig[:len(orig)/2])
	pause()
	restore(vol, orig)
	pause()
	// A whole archive disappears, then comes back.
	saved := map[string][]byte{}
	for _, f := range []string{"20261118.0.xz", "20261118.index", "20261118.meta.xz"} {
		saved[f] = save(filepath.Join(db, f))
		if err := os.Remove(filepath.Join(db, f)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pause()
	for f, b := range saved {
		restore(filepath.Join(db, f), b)
	}
	pause()
	// The live volume loses its tail inside a record, then grows back.
	live := filepath.Join(db, "20261120.00.10.0")
	orig = save(live)
	restore(live, orig[:len(orig)/2+3])
	pause()
	restore(live, orig)
	growing.Wait()
	pause()
	stop.Store(true)
	clients.Wait()
	pause() // a rescan

	t.Logf("%d requests during the faults", requests.Load())
	for _, f := range failures {
		t.Error(f)
	}
	mustHealthy(t, srv.base)
	for host, dump := range map[string]string{
		"demo-db1":  filepath.Join(demo, "demo-db1.oracle.jsonl.gz"),
		"demo-web1": filepath.Join(demo, "demo-web1.oracle.jsonl.gz"),
		"vm":        filepath.Join(repo, "testdata", "archives", "v3-basic", "oracle.jsonl.gz"),
	} {
		want, err := pcptest.WantSeries(dump, host)
		if err != nil {
			t.Fatal(err)
		}
		if diffs := pcptest.CompareSeries(readHost(t, srv.base, host, true), want, 10); len(diffs) > 0 {
			t.Errorf("%s after the faults differs from libpcp:\n%s", host, strings.Join(diffs, "\n"))
		}
	}
	st := getStatus(t, srv.base)
	for _, h := range st.Hosts {
		for _, a := range h.Archives {
			if a.Problem != "" {
				t.Errorf("%s: problem left after the files were restored: %s", a.Path, a.Problem)
			}
		}
	}
	if len(st.Skipped) > 0 {
		t.Errorf("skipped after the faults: %v", st.Skipped)
	}
	srv.logs.noErrors(t)
	var warned int
	for _, l := range srv.logs.lines() {
		if l.level() == "WARN" {
			warned++
		}
	}
	t.Logf("%d warnings logged during the faults", warned)
}

// inFlight is the number of requests a handler is serving.
func inFlight(t testing.TB, base, handler string) float64 {
	return metricValue(t, base, "pcp_remote_read_http_requests_in_flight", fmt.Sprintf("handler=%q", handler))
}

// waitIdle waits until a handler serves no request, and returns how long
// that took.
func waitIdle(t testing.TB, base, handler string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for inFlight(t, base, handler) > 0 {
		if time.Since(start) > within {
			t.Fatalf("%s still serving a request after %v", handler, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// heavyRead is a remote read that takes a while to gather: every sample
// of every host, n times over.
func heavyRead(t testing.TB, n int, streamed bool) []byte {
	req := &prompb.ReadRequest{}
	for range n {
		q := everything("x")
		q.Matchers[0] = &prompb.LabelMatcher{Type: prompb.LabelMatcher_RE, Name: "hostname", Value: "demo-.*"}
		req.Queries = append(req.Queries, q)
	}
	if streamed {
		req.AcceptedResponseTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}
	}
	return encodeReq(t, req)
}

// rawPost sends a POST on a new connection and returns the connection,
// unread. readBuf, when > 0, makes the client's receive buffer small.
func rawPost(t testing.TB, base, path, ctype string, body []byte, readBuf int) net.Conn {
	t.Helper()
	var d net.Dialer
	if readBuf > 0 {
		// Set before connecting: the window scale is agreed on then, and a
		// buffer shrunk later makes the kernel trickle the data.
		d.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, readBuf)
			})
		}
	}
	conn, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Encoding: snappy\r\nContent-Length: %d\r\n\r\n", path, ctype, len(body))
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestClientGone disconnects clients while their remote read is being
// gathered and while it is being streamed: the server stops working on it
// promptly (well before the request would have finished) and counts it as
// canceled, not as an error.
func TestClientGone(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	srv := startLogged(t, "--archive.rescan-interval=0", "--log.level=info", filepath.Join(pcptest.RepoRoot(t), "testdata", "demo"))
	body := heavyRead(t, 20, true)
	// How long the whole request takes.
	start := time.Now()
	code, _, b := postRaw(t, nil, srv.base+"/api/v1/read", remoteread.ContentTypeSamples, body)
	full := time.Since(start)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	t.Logf("the whole request: %v, %.1f MB", full.Round(time.Millisecond), float64(len(b))/1e6)
	if full < 200*time.Millisecond {
		t.Skipf("the request takes only %v here: too fast to disconnect in the middle", full)
	}
	canceled0 := metricValue(t, srv.base, "pcp_remote_read_http_request_errors_total", `handler="read"`, `kind="canceled"`)

	t.Run("while gathering", func(t *testing.T) {
		conn := rawPost(t, srv.base, "/api/v1/read", remoteread.ContentTypeSamples, body, 0)
		time.Sleep(full / 10)
		if inFlight(t, srv.base, "read") != 1 {
			t.Fatalf("the request is not being served")
		}
		conn.Close()
		took := waitIdle(t, srv.base, "read", full)
		t.Logf("work ended %v after the client left (the request takes %v)", took.Round(time.Millisecond), full.Round(time.Millisecond))
		if took > full/2 {
			t.Errorf("work went on for %v after the client left; the whole request takes %v", took, full)
		}
	})
	t.Run("while streaming", func(t *testing.T) {
		conn := rawPost(t, srv.base, "/api/v1/read", remoteread.ContentTypeSamples, body, 4096)
		// Read the status line and a little of the stream, then leave.
		buf := make([]byte, 16<<10)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
			t.Fatalf("answer %q", buf[:40])
		}
		conn.Close()
		took := waitIdle(t, srv.base, "read", 10*time.Second)
		t.Logf("streaming stopped %v after the client left", took.Round(time.Millisecond))
	})
	if got := metricValue(t, srv.base, "pcp_remote_read_http_request_errors_total", `handler="read"`, `kind="canceled"`); got < canceled0+2 {
		t.Errorf("canceled requests counted: %v, want %v", got, canceled0+2)
	}
	mustHealthy(t, srv.base)
	srv.logs.noErrors(t)
}

// TestSlowClients stalls clients: one stops reading a large answer (remote
// read and PromQL), one stops sending its request body. Each holds a
// handler (and, for remote read, a concurrency slot) only until
// --web.stall-timeout passes without progress; others are served
// meanwhile.
func TestSlowClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	const stall = time.Second
	srv := startLogged(t, "--archive.rescan-interval=0", "--log.level=info", "--web.stall-timeout="+stall.String(),
		"--query.max-concurrency=2", filepath.Join(pcptest.RepoRoot(t), "testdata", "demo"))
	big := heavyRead(t, 10, false) // tens of MB of SAMPLES answer, written in one piece
	bigStreamed := heavyRead(t, 10, true)
	bigQuery := url.Values{"query": {`{__name__=~"kernel_.*|mem_.*|disk_.*"}`}, "start": {"1794960000"}, "end": {"1795158000"}, "step": {"30"}}.Encode()

	for _, c := range []struct {
		name, handler, path, ctype string
		body                       []byte
	}{
		{"read samples", "read", "/api/v1/read", remoteread.ContentTypeSamples, big},
		{"read streamed", "read", "/api/v1/read", remoteread.ContentTypeSamples, bigStreamed},
		{"query_range", "query_range", "/api/v1/query_range", "application/x-www-form-urlencoded", []byte(bigQuery)},
	} {
		t.Run(c.name+" not read", func(t *testing.T) {
			sent := time.Now()
			conns := []net.Conn{
				rawPost(t, srv.base, c.path, c.ctype, c.body, 4096),
				rawPost(t, srv.base, c.path, c.ctype, c.body, 4096),
			}
			defer func() {
				for _, conn := range conns {
					conn.Close()
				}
			}()
			// The stalled clients hold both slots for a while; others
			// still get an answer (after at most stall + the work).
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			code, _, _ := postRead(t, nil, srv.base, &prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(lm(prompb.LabelMatcher_EQ, "__name__", "kernel_all_load"))}})
			if code != 200 {
				t.Errorf("another client got %d while two were stalled", code)
			}
			t.Logf("another client waited %v", time.Since(start).Round(time.Millisecond))
			took := waitIdle(t, srv.base, c.handler, 30*time.Second)
			t.Logf("stalled clients dropped within %v", took.Round(time.Millisecond))
			if time.Since(sent) < stall {
				t.Errorf("the handlers ended before the stall timeout: the answers fit into the socket buffers, and nothing was tested")
			}
			// The connection was closed by the server: reading it ends.
			conns[0].SetReadDeadline(time.Now().Add(10 * time.Second))
			rs := time.Now()
			n, err := io.Copy(io.Discard, conns[0])
			t.Logf("read %d bytes in %v: %v", n, time.Since(rs), err)
			if err != nil && !isReset(err) {
				t.Errorf("reading the dropped connection: %v", err)
			}
		})
	}
	t.Run("request body not sent", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\nabc")
		time.Sleep(200 * time.Millisecond)
		if inFlight(t, srv.base, "read") != 1 {
			t.Fatalf("the request is not being served")
		}
		took := waitIdle(t, srv.base, "read", 10*time.Second)
		t.Logf("dropped within %v", took.Round(time.Millisecond))
	})
	mustHealthy(t, srv.base)
	srv.logs.noErrors(t)
}

func isReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "reset") || strings.Contains(s, "broken pipe")
}
