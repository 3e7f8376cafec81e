package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// slowRequest is longer than any request below may take, however bad.
const slowRequest = 5 * time.Second

func encodeReq(t testing.TB, req *prompb.ReadRequest) []byte {
	t.Helper()
	b, err := remoteread.EncodeReadRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func demoQuery(ms ...*prompb.LabelMatcher) *prompb.Query {
	return &prompb.Query{StartTimestampMs: 1795046400000, EndTimestampMs: 1795132800000, Matchers: ms}
}

func lm(t prompb.LabelMatcher_Type, name, value string) *prompb.LabelMatcher {
	return &prompb.LabelMatcher{Type: t, Name: name, Value: value}
}

// zeroReader is an endless body of zeros without a length.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.n)
	clear(p[:n])
	z.n -= n
	return int(n), nil
}

// TestBadRequests sends the remote-read endpoint and the query API every
// kind of bad request: each is answered 4xx with a message (or, where the
// protocol allows it, served), quickly; nothing is logged at error level;
// the server stays healthy.
func TestBadRequests(t *testing.T) {
	srv := startLogged(t, "--archive.rescan-interval=0", filepath.Join(pcptest.RepoRoot(t), "testdata", "demo"))
	name := lm(prompb.LabelMatcher_EQ, "__name__", "kernel_all_load")
	valid := &prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(name)}}
	manyQueries := func(n int) *prompb.ReadRequest {
		r := &prompb.ReadRequest{}
		for range n {
			r.Queries = append(r.Queries, demoQuery(name, lm(prompb.LabelMatcher_EQ, "hostname", "demo-db1")))
		}
		return r
	}
	var hugeAlternation []string
	for i := range 200000 {
		hugeAlternation = append(hugeAlternation, fmt.Sprintf("host%d", i))
	}
	// A snappy block whose header claims 1 GiB (CVE-2026-42154).
	bomb := binary.AppendUvarint(nil, 1<<30)
	bomb = append(bomb, 0x00, 'x')

	type readCase struct {
		name   string
		method string
		ctype  string
		body   io.Reader
		length int64 // -1: no Content-Length
		want   int
	}
	body := func(b []byte) io.Reader { return bytes.NewReader(b) }
	req := func(r *prompb.ReadRequest) io.Reader { return body(encodeReq(t, r)) }
	cases := []readCase{
		{"valid", "POST", "", req(valid), 0, 200},
		{"GET", "GET", "", nil, 0, 405},
		{"PUT", "PUT", "", req(valid), 0, 405},
		{"empty body", "POST", "", body(nil), 0, 400},
		{"not snappy", "POST", "", body([]byte("\x20\xfe\xfd not snappy at all")), 0, 400},
		{"snappy length bomb in junk", "POST", "", body([]byte("\xff\xfe\xfd not snappy at all")), 0, 413},
		{"snappy, not protobuf", "POST", "", body(snappy.Encode(nil, bytes.Repeat([]byte{0xff}, 64))), 0, 400},
		{"snappy claiming 1 GiB", "POST", "", body(bomb), 0, 413},
		{"33 MiB body", "POST", "", &zeroReader{33 << 20}, 33 << 20, 413},
		{"33 MiB body without length", "POST", "", &zeroReader{33 << 20}, -1, 413},
		// Twice the limit: the answer arrives before the body is sent
		// (lingerClose), not a TCP reset.
		{"64 MiB body", "POST", "", &zeroReader{64 << 20}, 64 << 20, 413},
		{"64 MiB body without length", "POST", "", &zeroReader{64 << 20}, -1, 413},
		{"no queries", "POST", "", req(&prompb.ReadRequest{}), 0, 400},
		{"100 queries", "POST", "", req(manyQueries(100)), 0, 200},
		{"5000 queries", "POST", "", req(manyQueries(5000)), 0, 400},
		{"no matchers", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery()}}), 0, 400},
		{"unknown matcher type", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(lm(7, "__name__", "x"))}}), 0, 400},
		{"invalid regex", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(lm(prompb.LabelMatcher_RE, "__name__", "(kernel"))}}), 0, 400},
		{"regex repeat count", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(lm(prompb.LabelMatcher_RE, "__name__", "((a{100}){100}){100}"))}}), 0, 400},
		{"catastrophic regex on names", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(lm(prompb.LabelMatcher_RE, "__name__", "(a+)+$"))}}), 0, 200},
		{"catastrophic regex on values", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(name, lm(prompb.LabelMatcher_RE, "instname", "(.*a){20}(.+)+$"))}}), 0, 200},
		{"huge regex", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(name, lm(prompb.LabelMatcher_RE, "instname", strings.Repeat("[a-z]?", 100000)))}}), 0, 400},
		{"huge alternation of literals", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(name, lm(prompb.LabelMatcher_RE, "hostname", strings.Join(hugeAlternation, "|")))}}), 0, 200},
		{"start after end", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: 10, EndTimestampMs: 9, Matchers: []*prompb.LabelMatcher{name}}}}), 0, 400},
		{"absurd range", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: math.MinInt64, EndTimestampMs: math.MaxInt64, Matchers: []*prompb.LabelMatcher{name}}}}), 0, 200},
		{"absurd hints", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64, Matchers: []*prompb.LabelMatcher{name},
			Hints: &prompb.ReadHints{StartMs: math.MaxInt64, EndMs: math.MinInt64, StepMs: -1, RangeMs: math.MinInt64}}}}), 0, 200},
		{"unknown response type", "POST", "", req(&prompb.ReadRequest{Queries: valid.Queries, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{7}}), 0, 400},
		{"unknown then known response type", "POST", "", req(&prompb.ReadRequest{Queries: valid.Queries, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{7, prompb.ReadRequest_SAMPLES}}), 0, 200},
		{"JSON content type", "POST", "application/json", body([]byte(`{"queries":[]}`)), 0, 415},
		{"form content type", "POST", "application/x-www-form-urlencoded", body([]byte("query=up")), 0, 415},
		{"text content type", "POST", "text/plain", req(valid), 0, 415},
		{"a file name as host", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(name, lm(prompb.LabelMatcher_EQ, "hostname", "../../../../etc/passwd"))}}), 0, 200},
		{"a file name as metric", "POST", "", req(&prompb.ReadRequest{Queries: []*prompb.Query{demoQuery(lm(prompb.LabelMatcher_EQ, "__name__", "/etc/passwd"))}}), 0, 200},
	}
	for _, c := range cases {
		t.Run("read/"+c.name, func(t *testing.T) {
			hreq, err := http.NewRequest(c.method, srv.base+"/api/v1/read", c.body)
			if err != nil {
				t.Fatal(err)
			}
			if c.length < 0 {
				hreq.ContentLength = -1
				hreq.Body = io.NopCloser(c.body) // hide the length
			}
			ct := c.ctype
			if ct == "" {
				ct = remoteread.ContentTypeSamples
			}
			hreq.Header.Set("Content-Type", ct)
			hreq.Header.Set("Content-Encoding", "snappy")
			code, b := checkedRequest(t, hreq, c.want)
			if code >= 400 && len(strings.TrimSpace(string(b))) < 10 {
				t.Errorf("status %d with no message: %q", code, b)
			}
		})
	}

	type apiCase struct {
		name   string
		method string
		path   string
		params url.Values
		want   int
	}
	deep := strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	chain := strings.Repeat("1+", 50000) + "1"
	apiCases := []apiCase{
		{"valid", "GET", "query", url.Values{"query": {"kernel_all_load"}, "time": {"1795100430"}}, 200},
		{"bad PromQL", "GET", "query", url.Values{"query": {"sum(kernel_all_load"}}, 400},
		{"empty query", "GET", "query", url.Values{"query": {""}}, 400},
		{"bad time", "GET", "query", url.Values{"query": {"1"}, "time": {"yesterday"}}, 400},
		{"time 1e30", "GET", "query", url.Values{"query": {"1"}, "time": {"1e30"}}, 400},
		{"bad timeout", "GET", "query", url.Values{"query": {"1"}, "timeout": {"soon"}}, 400},
		{"bad lookback", "GET", "query", url.Values{"query": {"1"}, "lookback_delta": {"x"}}, 400},
		{"bad limit", "GET", "query", url.Values{"query": {"1"}, "limit": {"-1"}}, 400},
		{"deep nesting", "POST", "query", url.Values{"query": {deep}}, 400},
		{"long operator chain", "POST", "query", url.Values{"query": {chain}}, 400},
		{"huge regex", "POST", "query", url.Values{"query": {`kernel_all_load{instname=~"` + strings.Repeat("[a-z]?", 100000) + `"}`}}, 400},
		{"catastrophic regex", "GET", "query", url.Values{"query": {`{__name__=~"(a+)+$"}`}, "time": {"1795100430"}}, 200},
		{"step 0", "GET", "query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"100"}, "step": {"0"}}, 400},
		{"negative step", "GET", "query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"100"}, "step": {"-5"}}, 400},
		{"a million steps", "GET", "query_range", url.Values{"query": {"kernel_all_load"}, "start": {"1795000000"}, "end": {"1796000000"}, "step": {"1"}}, 400},
		{"start after end", "GET", "query_range", url.Values{"query": {"1"}, "start": {"100"}, "end": {"0"}, "step": {"1"}}, 400},
		{"absurd range", "GET", "query_range", url.Values{"query": {"kernel_all_load"}, "start": {"-5e13"}, "end": {"5e13"}, "step": {"9.2e9"}}, 200},
		{"NaN time", "GET", "query_range", url.Values{"query": {"1"}, "start": {"NaN"}, "end": {"9e15"}, "step": {"2e12"}}, 400},
		{"range without step", "GET", "query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"100"}}, 400},
		{"series without match", "GET", "series", url.Values{}, 400},
		{"series with a bad selector", "GET", "series", url.Values{"match[]": {"{"}}, 400},
		{"series with a huge regex", "POST", "series", url.Values{"match[]": {`{__name__=~"` + strings.Repeat("[a-z]?", 100000) + `"}`}}, 400},
		{"labels with absurd times", "GET", "labels", url.Values{"start": {"-1e20"}, "end": {"1e20"}}, 400},
		{"values of a name that is not UTF-8", "GET", "label/%ff/values", url.Values{}, 400},
		{"unknown endpoint", "GET", "nope", url.Values{}, 404},
		{"DELETE", "DELETE", "query", url.Values{"query": {"1"}}, 405},
	}
	for _, c := range apiCases {
		t.Run("api/"+c.name, func(t *testing.T) {
			var hreq *http.Request
			var err error
			if c.method == "POST" {
				hreq, err = http.NewRequest(c.method, srv.base+"/api/v1/"+c.path, strings.NewReader(c.params.Encode()))
				hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				hreq, err = http.NewRequest(c.method, srv.base+"/api/v1/"+c.path+"?"+c.params.Encode(), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if code, b := checkedRequest(t, hreq, c.want); code == 400 {
				var r pcptest.APIResponse
				if err := json.Unmarshal(b, &r); err != nil || r.ErrorType != "bad_data" || r.Error == "" {
					t.Errorf("400 without a bad_data envelope: %s", pcptest.Tail(string(b), 300))
				}
			}
		})
	}

	mustHealthy(t, srv.base)
	if code, _ := httpGet(t, srv.base+"/-/ready"); code != 200 {
		t.Errorf("/-/ready: %d", code)
	}
	if got := metricValue(t, srv.base, "pcp_remote_read_http_request_errors_total", `handler="read"`, `kind="internal"`); got != 0 {
		t.Errorf("%v internal errors counted for remote read", got)
	}
	srv.logs.noErrors(t)
}

// checkedRequest sends a bad request, checks its status and that it was
// answered in time, logs the answer's first line and returns it.
func checkedRequest(t *testing.T, hreq *http.Request, want int) (int, []byte) {
	t.Helper()
	start := time.Now()
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != want {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, want, pcptest.Tail(string(b), 300))
	}
	if took > slowRequest {
		t.Errorf("took %v", took)
	}
	t.Logf("%d in %v: %s", resp.StatusCode, took.Round(time.Millisecond), firstLine(b, resp.StatusCode))
	return resp.StatusCode, b
}

// firstLine shortens an answer for the log.
func firstLine(b []byte, code int) string {
	if code == 200 {
		return fmt.Sprintf("%d bytes", len(b))
	}
	s := strings.SplitN(string(b), "\n", 2)[0]
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
