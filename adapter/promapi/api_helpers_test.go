package promapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// The demo set (testdata/demo, README "Demo set"): two hosts, one record a
// minute at :00-:02 seconds past the minute, 2026-11-18 00:00 to
// 2026-11-20 06:59 UTC. Query times sit at :30, away from every sample.
const (
	demoStart = "2026-11-18T00:00:30Z"
	demoEnd   = "2026-11-20T06:59:30Z"
	demoAt    = "2026-11-19T15:00:30Z" // mid-afternoon on the 19th, after the reboot
)

var apiNow = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// demoStorage is the demo set, opened once for all tests of the package.
var demoStorage = pcptest.SharedStorage(multiarchive.Options{}, "../../testdata/demo")

// noMetadata is a MetadataSource for tests over fake storages.
type noMetadata struct{}

func (noMetadata) Metadata(context.Context, string) ([]translate.MetricMetadata, annotations.Annotations, error) {
	return nil, nil, nil
}

func newAPI(t testing.TB, q storage.Queryable, md MetadataSource, mod func(*APIOptions)) (http.Handler, *adapter.Metrics) {
	t.Helper()
	m, err := adapter.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := APIOptions{MaxConcurrent: 4, Now: func() time.Time { return apiNow }, BuildInfo: BuildInfo{Version: "test", GoVersion: "go-test"}}
	if mod != nil {
		mod(&opts)
	}
	h, err := NewAPIHandler(q, md, opts, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

func demoAPI(t testing.TB) http.Handler {
	t.Helper()
	st := demoStorage(t)
	h, _ := newAPI(t, st, st, nil)
	return h
}

type apiReply struct {
	code   int
	header http.Header
	body   []byte
	env    pcptest.APIResponse
}

func (r apiReply) data(t testing.TB, v any) {
	t.Helper()
	if r.code != 200 || r.env.Status != "success" {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	if err := json.Unmarshal(r.env.Data, v); err != nil {
		t.Fatalf("data %s: %v", r.env.Data, err)
	}
}

func do(t testing.TB, h http.Handler, req *http.Request) apiReply {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := apiReply{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.body, &r.env); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", req.Method, req.URL, err, r.body)
		}
	}
	return r
}

func apiGet(t testing.TB, h http.Handler, path string, params url.Values) apiReply {
	t.Helper()
	return do(t, h, httptest.NewRequest(http.MethodGet, path+"?"+params.Encode(), nil))
}

// apiPost sends params as a form body, as Grafana does.
func apiPost(t testing.TB, h http.Handler, path string, params url.Values) apiReply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, h, req)
}

// vectorResult and matrixResult are query data as clients decode them.
type vectorResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	} `json:"result"`
}

type matrixResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	} `json:"result"`
}
