package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
)

// httpClient talks to loopback servers only; every request has its own
// deadline on top of this one.
var httpClient = &http.Client{
	Timeout: 15 * time.Minute,
	Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		DisableCompression:  false,
	},
}

// answerBuf holds the answers that the serial measurements read, one at a
// time. io.ReadAll grows its buffer from 512 bytes by copying, and each
// new buffer's pages fault in as they are written: for the 9 MB answer of
// one metric over a week that costs the harness 7-50 ms of its own on a
// request the server answers in 7, on either side alike, enough to move
// warm medians of about 30 ms past 1.0 and back from run to run. So the
// buffer is made once, written over once (its pages faulted in before
// anything is timed), and kept; it grows, and stays grown, only for a
// larger answer.
type answerBuf struct{ b []byte }

func newAnswerBuf(n int) *answerBuf {
	a := &answerBuf{b: make([]byte, n)}
	for i := 0; i < len(a.b); i += 4096 {
		a.b[i] = 1
	}
	return a
}

// read reads r to its end into a's buffer; the bytes are valid until the
// next read. A nil a reads into a fresh buffer (concurrent clients).
func (a *answerBuf) read(r io.Reader) ([]byte, error) {
	if a == nil {
		return io.ReadAll(r)
	}
	n := 0
	for {
		if n == len(a.b) {
			nb := make([]byte, 2*len(a.b)+1<<20)
			copy(nb, a.b[:n])
			a.b = nb
		}
		m, err := r.Read(a.b[n:])
		n += m
		if err == io.EOF {
			return a.b[:n], nil
		}
		if err != nil {
			return a.b[:n], err
		}
	}
}

// rrQuery is one remote-read query.
type rrQuery struct {
	Key      string // short id
	Name     string // human description
	Matchers []*prompb.LabelMatcher
	Start    int64 // ms, inclusive
	End      int64 // ms, inclusive
}

func (q rrQuery) request(streamed bool) []byte {
	req := &prompb.ReadRequest{Queries: []*prompb.Query{{
		StartTimestampMs: q.Start, EndTimestampMs: q.End, Matchers: q.Matchers,
	}}}
	if streamed {
		req.AcceptedResponseTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}
	} else {
		req.AcceptedResponseTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES}
	}
	b, err := remoteread.EncodeReadRequest(req)
	if err != nil {
		panic(err)
	}
	return b
}

// content summarises an answer so two servers' answers can be compared:
// series and samples inside the query range, staleness markers left out
// (pcp-remote-read marks archive boundaries; a TSDB has no such marks),
// and an order-independent checksum of (labels, timestamp, value bits).
type content struct {
	Series   int    `json:"series"`
	Samples  int64  `json:"samples"`
	Stale    int64  `json:"stale_markers"`
	Checksum uint64 `json:"checksum"`
}

func (c content) String() string {
	return fmt.Sprintf("%d series, %d samples", c.Series, c.Samples)
}

type sampleAcc struct {
	start, end int64
	c          content
	seen       map[uint64]bool
}

func newAcc(start, end int64) *sampleAcc {
	return &sampleAcc{start: start, end: end, seen: map[uint64]bool{}}
}

func labelsHash(ls []prompb.Label) uint64 {
	s := make([]string, 0, len(ls))
	for _, l := range ls {
		s = append(s, l.Name+"="+l.Value)
	}
	sort.Strings(s)
	h := fnv.New64a()
	h.Write([]byte(strings.Join(s, "\xff")))
	return h.Sum64()
}

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func (a *sampleAcc) add(lh uint64, t int64, v float64) {
	if t < a.start || t > a.end {
		return
	}
	if value.IsStaleNaN(v) {
		a.c.Stale++
		return
	}
	if !a.seen[lh] {
		a.seen[lh] = true
		a.c.Series++
	}
	a.c.Samples++
	a.c.Checksum += mix(lh ^ mix(uint64(t)) ^ mix(math.Float64bits(v)+0x9e3779b97f4a7c15))
}

type rrResult struct {
	Status  int     `json:"status"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	Content content `json:"content"`
	Err     string  `json:"error,omitempty"`
}

// remoteRead posts one request as Prometheus does and times it up to the
// last byte of the answer; decoding for the content check is not timed.
func remoteRead(base string, q rrQuery, streamed bool, body []byte, buf *answerBuf, timeout time.Duration) rrResult {
	r, data, ct := fetchRR(base, body, buf, timeout)
	if r.Err == "" {
		r.check(q, streamed, data, ct)
	}
	return r
}

// fetchRR posts one remote-read request and reads the answer into buf,
// timing both; it returns the answer and its Content-Type for check.
func fetchRR(base string, body []byte, buf *answerBuf, timeout time.Duration) (rrResult, []byte, string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/read", bytes.NewReader(body))
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	req.Header.Set("User-Agent", "pcp-remote-read-bench")
	t0 := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return rrResult{Err: err.Error(), Seconds: time.Since(t0).Seconds()}, nil, ""
	}
	data, err := buf.read(resp.Body)
	resp.Body.Close()
	r := rrResult{Status: resp.StatusCode, Seconds: time.Since(t0).Seconds(), Bytes: int64(len(data))}
	if err != nil {
		r.Err = err.Error()
	} else if resp.StatusCode != 200 {
		r.Err = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, truncate(string(data), 200))
	}
	return r, data, resp.Header.Get("Content-Type")
}

// check decodes answer data of Content-Type ct into r's content, or says
// in r.Err why it cannot.
func (r *rrResult) check(q rrQuery, streamed bool, data []byte, ct string) {
	acc := newAcc(q.Start, q.End)
	if streamed {
		if !strings.HasPrefix(ct, "application/x-streamed-protobuf") {
			r.Err = "not a streamed answer: Content-Type " + ct
			return
		}
		frames, err := remoteread.ReadChunkedFrames(bytes.NewReader(data), 1<<30)
		if err != nil {
			r.Err = err.Error()
			return
		}
		for _, f := range frames {
			for _, s := range f.ChunkedSeries {
				lh := labelsHash(s.Labels)
				for _, ch := range s.Chunks {
					if ch.Type != prompb.Chunk_XOR {
						r.Err = "unexpected chunk type " + ch.Type.String()
						return
					}
					c, err := chunkenc.FromData(chunkenc.EncXOR, ch.Data)
					if err != nil {
						r.Err = err.Error()
						return
					}
					it := c.Iterator(nil)
					for it.Next() == chunkenc.ValFloat {
						t, v := it.At()
						acc.add(lh, t, v)
					}
					if it.Err() != nil {
						r.Err = it.Err().Error()
						return
					}
				}
			}
		}
	} else {
		rr, err := remoteread.DecodeReadResponse(data)
		if err != nil {
			r.Err = err.Error()
			return
		}
		for _, res := range rr.Results {
			for _, ts := range res.Timeseries {
				lh := labelsHash(ts.Labels)
				for _, s := range ts.Samples {
					acc.add(lh, s.Timestamp, s.Value)
				}
			}
		}
	}
	r.Content = acc.c
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// promqlResult is a query_range answer reduced for comparison.
type promqlResult struct {
	Status  int     `json:"status"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	Series  int     `json:"series"`
	Points  int64   `json:"points"`
	Err     string  `json:"error,omitempty"`
	values  map[string]map[float64]float64
}

func queryRange(base, query string, start, end time.Time, step time.Duration, buf *answerBuf, timeout time.Duration) promqlResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	form := url.Values{}
	form.Set("query", query)
	form.Set("start", strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64))
	form.Set("end", strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64))
	form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/query_range", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	t0 := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return promqlResult{Err: err.Error(), Seconds: time.Since(t0).Seconds()}
	}
	data, err := buf.read(resp.Body)
	resp.Body.Close()
	r := promqlResult{Status: resp.StatusCode, Seconds: time.Since(t0).Seconds(), Bytes: int64(len(data))}
	if err != nil {
		r.Err = err.Error()
		return r
	}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		r.Err = "decode: " + err.Error()
		return r
	}
	if body.Status != "success" {
		r.Err = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body.Error)
		return r
	}
	r.values = map[string]map[float64]float64{}
	for _, s := range body.Data.Result {
		keys := make([]string, 0, len(s.Metric))
		for k, v := range s.Metric {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		m := map[float64]float64{}
		for _, p := range s.Values {
			t, _ := p[0].(float64)
			vs, _ := p[1].(string)
			v, _ := strconv.ParseFloat(vs, 64)
			m[t] = v
			r.Points++
		}
		r.values[strings.Join(keys, ",")] = m
		r.Series++
	}
	return r
}

// comparePromQL reports whether two answers have the same series and
// points, with values equal to a relative 1e-9 (engines may sum in a
// different order).
func comparePromQL(a, b promqlResult) string {
	if a.Err != "" || b.Err != "" {
		return "not compared (error)"
	}
	if a.Series != b.Series || a.Points != b.Points {
		return fmt.Sprintf("MISMATCH: %d series/%d points vs %d/%d", a.Series, a.Points, b.Series, b.Points)
	}
	maxRel := 0.0
	for k, am := range a.values {
		bm, ok := b.values[k]
		if !ok {
			return "MISMATCH: series " + k + " missing"
		}
		for t, av := range am {
			bv, ok := bm[t]
			if !ok {
				return fmt.Sprintf("MISMATCH: %s point %v missing", k, t)
			}
			d := math.Abs(av - bv)
			if s := math.Max(math.Abs(av), math.Abs(bv)); s > 0 {
				d /= s
			}
			maxRel = math.Max(maxRel, d)
		}
	}
	if maxRel > 1e-9 {
		return fmt.Sprintf("MISMATCH: values differ (max rel %.2g)", maxRel)
	}
	return fmt.Sprintf("equal: %d series, %d points (max rel diff %.1g)", a.Series, a.Points, maxRel)
}

// compareMain is `benchrun compare URL1 URL2 MATCHER START_MS END_MS`: a
// diagnostic that fetches the same SAMPLES query from two servers and
// prints the first differences (by series, timestamp, value).
func compareMain(args []string) int {
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: benchrun compare URL1 URL2 NAME=VALUE START_MS END_MS")
		return 2
	}
	name, val, _ := strings.Cut(args[2], "=")
	start, _ := strconv.ParseInt(args[3], 10, 64)
	end, _ := strconv.ParseInt(args[4], 10, 64)
	q := rrQuery{Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: name, Value: val}}, Start: start, End: end}
	get := func(base string) (map[string]map[int64]float64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/read", bytes.NewReader(q.request(false)))
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
		}
		rr, err := remoteread.DecodeReadResponse(data)
		if err != nil {
			return nil, err
		}
		out := map[string]map[int64]float64{}
		for _, res := range rr.Results {
			for _, ts := range res.Timeseries {
				var ls []string
				for _, l := range ts.Labels {
					ls = append(ls, l.Name+"="+l.Value)
				}
				sort.Strings(ls)
				m := map[int64]float64{}
				for _, s := range ts.Samples {
					if !value.IsStaleNaN(s.Value) {
						m[s.Timestamp] = s.Value
					}
				}
				out[strings.Join(ls, ",")] = m
			}
		}
		return out, nil
	}
	a, err := get(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := get(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	diffs := 0
	for k, am := range a {
		bm := b[k]
		var ts []int64
		for t := range am {
			ts = append(ts, t)
		}
		for t := range bm {
			if _, ok := am[t]; !ok {
				ts = append(ts, t)
			}
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		for _, t := range ts {
			av, aok := am[t]
			bv, bok := bm[t]
			if aok != bok || math.Float64bits(av) != math.Float64bits(bv) {
				if diffs < 40 {
					fmt.Printf("%s t=%d (%s): 1=%v(%v) 2=%v(%v)\n", k, t, time.UnixMilli(t).UTC().Format("01-02T15:04:05.000"), av, aok, bv, bok)
				}
				diffs++
			}
		}
	}
	fmt.Printf("%d series vs %d, %d differing samples\n", len(a), len(b), diffs)
	for _, streamed := range []bool{false, true} {
		body := q.request(streamed)
		c1 := remoteRead(args[0], q, streamed, body, nil, 10*time.Minute).Content
		fmt.Printf("%s: 1 %d %d stale %d %x\n", typeName(streamed), c1.Series, c1.Samples, c1.Stale, c1.Checksum)
		c2 := remoteRead(args[1], q, streamed, body, nil, 10*time.Minute).Content
		fmt.Printf("%s: 2 %d %d stale %d %x\n", typeName(streamed), c2.Series, c2.Samples, c2.Stale, c2.Checksum)
	}
	return 0
}
