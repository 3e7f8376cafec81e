package promapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// grafanaClient sends requests the way Grafana's Prometheus data source
// does (grafana/grafana pkg/promlib/client/client.go): query and
// query_range with the data source's HTTP method, parameters in a form body
// for POST; resource calls (labels, series, metadata, buildinfo, ...) by
// POST, retried with GET on 400 or 405, except the endpoints Grafana knows
// to be GET only (label values, metadata, status/*), which it GETs.
type grafanaClient struct {
	t      *testing.T
	h      http.Handler
	method string   // the data source's httpMethod
	log    []string // "METHOD path code" of every request sent
}

var grafanaGetOnly = []string{"api/v1/label/", "api/v1/metadata", "/api/v1/status/"}

func (g *grafanaClient) send(method, path string, params url.Values) apiReply {
	g.t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequest(method, "/"+path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "/"+path+"?"+params.Encode(), nil)
	}
	r := do(g.t, g.h, req)
	g.log = append(g.log, fmt.Sprintf("%s /%s %d", method, path, r.code))
	return r
}

// query is Client.QueryInstant / QueryRange / QueryExemplars.
func (g *grafanaClient) query(path string, params url.Values) apiReply {
	g.t.Helper()
	return g.send(g.method, path, params)
}

// resource is Client.QueryResource.
func (g *grafanaClient) resource(path string, params url.Values) apiReply {
	g.t.Helper()
	method := g.method
	for _, p := range grafanaGetOnly {
		if strings.HasPrefix(path, strings.TrimPrefix(p, "/")) {
			method = http.MethodGet
		}
	}
	r := g.send(method, path, params)
	if method == http.MethodPost && (r.code == http.StatusBadRequest || r.code == http.StatusMethodNotAllowed) {
		r = g.send(http.MethodGet, path, params)
	}
	return r
}

// grafanaTime is how Grafana formats times: float unix seconds.
func grafanaTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9, 'f', -1, 64)
}

// TestGrafanaDataSource replays what Grafana's stock Prometheus data
// source sends on "Save & test", when the query editor and metric browser
// open and a metric, labels and values are picked, for a dashboard
// variable and for a panel, with both HTTP methods. Every request must
// succeed at the first attempt (no POST-to-GET fallback needed where
// Prometheus takes POST) and carry data.
func TestGrafanaDataSource(t *testing.T) {
	from := time.Date(2026, 11, 19, 12, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 19, 18, 0, 0, 0, time.UTC)
	// The metric browser's start and end are whole seconds
	// (getAdjustedInterval); panels send float seconds.
	rng := url.Values{"start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix(), 10)}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, vs := range rng {
			v[k] = vs
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			g := &grafanaClient{t: t, h: demoAPI(t), method: method}

			// Save & test: the health check, then buildinfo heuristics.
			r := g.query("api/v1/query", url.Values{"query": {"1+1"}, "time": {grafanaTime(time.Unix(4, 0))}})
			if string(r.body) != `{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}` {
				t.Errorf("health check: %s", r.body)
			}
			var bi map[string]any
			g.resource("api/v1/status/buildinfo", nil).data(t, &bi)
			if _, mimir := bi["features"]; mimir {
				t.Errorf("buildinfo has features: Grafana would assume Mimir")
			}

			// The metric browser opens: metric names, label names,
			// metadata (limit: the data source's series limit, 40000).
			var names, keys []string
			g.resource("api/v1/label/__name__/values", with(url.Values{"limit": {"40000"}})).data(t, &names)
			g.resource("api/v1/labels", with(url.Values{"limit": {"40000"}})).data(t, &keys)
			var md map[string][]map[string]string
			g.resource("api/v1/metadata", url.Values{"limit": {"40000"}}).data(t, &md)
			if len(names) != 20 || len(keys) != 4 || len(md) != 20 {
				t.Errorf("browser start: %d names, %d label names, %d metadata", len(names), len(keys), len(md))
			}
			if md["kernel_all_cpu_user"][0]["type"] != "counter" {
				t.Errorf("metadata %v", md["kernel_all_cpu_user"])
			}

			// A metric is picked: its label names, then values of each.
			g.resource("api/v1/labels", with(url.Values{"match[]": {"kernel_all_load"}, "limit": {"40000"}})).data(t, &keys)
			if strings.Join(keys, ",") != "__name__,hostname,instid,instname" {
				t.Errorf("label names of kernel_all_load: %v", keys)
			}
			var hosts, insts []string
			g.resource("api/v1/label/hostname/values", with(url.Values{"match[]": {`{__name__="kernel_all_load"}`}, "limit": {"40000"}})).data(t, &hosts)
			g.resource("api/v1/label/instname/values", with(url.Values{"match[]": {`kernel_all_load{hostname="demo-web1"}`}, "limit": {"40000"}})).data(t, &insts)
			if strings.Join(hosts, ",") != "demo-db1,demo-web1" || strings.Join(insts, ",") != "1 minute,15 minute,5 minute" {
				t.Errorf("values: hosts %v, instances %v", hosts, insts)
			}
			// Without a declared Prometheus version Grafana lists series
			// instead (SeriesApiClient), matching everything.
			var series []map[string]string
			g.resource("api/v1/series", with(url.Values{"match[]": {`{__name__!=""}`}, "limit": {"40000"}})).data(t, &series)
			// 32 values a record, one of them the STRING kernel.uname.release.
			if len(series) != 2*31 {
				t.Errorf("%d series, want 2 hosts x 31", len(series))
			}

			// A dashboard variable: label_values(kernel_all_load, hostname).
			g.resource("api/v1/label/hostname/values", with(url.Values{"match[]": {"kernel_all_load"}})).data(t, &hosts)
			if strings.Join(hosts, ",") != "demo-db1,demo-web1" {
				t.Errorf("variable values %v", hosts)
			}

			// A panel: a range query with float times and step, the data
			// source's timeout, and exemplars (off by default, on in Explore).
			var m matrixResult
			g.query("api/v1/query_range", url.Values{
				"query": {`rate(kernel_all_cpu_user{hostname=~"(demo-db1|demo-web1)"}[4m]) / 1000`},
				"start": {grafanaTime(from)}, "end": {grafanaTime(to.Add(-500 * time.Millisecond))},
				"step": {"60"}, "timeout": {"2m"},
			}).data(t, &m)
			if len(m.Result) != 2 || len(m.Result[0].Values) < 300 {
				t.Errorf("panel query: %d series", len(m.Result))
			}
			var ex []any
			g.query("api/v1/query_exemplars", url.Values{"query": {"kernel_all_load"}, "start": {grafanaTime(from)}, "end": {grafanaTime(to)}}).data(t, &ex)
			// Explore's instant query next to the graph.
			var v vectorResult
			g.query("api/v1/query", url.Values{"query": {"kernel_all_load"}, "time": {grafanaTime(to)}, "timeout": {"2m"}}).data(t, &v)
			if len(v.Result) != 6 {
				t.Errorf("instant query: %d series", len(v.Result))
			}

			for _, l := range g.log {
				if !strings.HasSuffix(l, " 200") {
					t.Errorf("request failed: %s", l)
				}
			}
			// Resource calls Prometheus takes by POST need no GET retry.
			if n := len(g.log); n != 13 {
				t.Errorf("%d requests, want 13 (no retries):\n%s", n, strings.Join(g.log, "\n"))
			}
		})
	}
}

// TestGrafanaFallbackToGet checks the other side of Grafana's retry: a
// POST where Prometheus only has GET gets 405, so a client that does not
// know the endpoint is GET only still succeeds on its retry.
func TestGrafanaFallbackToGet(t *testing.T) {
	g := &grafanaClient{t: t, h: demoAPI(t), method: http.MethodPost}
	r := g.send(http.MethodPost, "api/v1/label/hostname/values", nil)
	if r.code != http.StatusMethodNotAllowed {
		t.Fatalf("POST label values: %d", r.code)
	}
	var hosts []string
	g.send(http.MethodGet, "api/v1/label/hostname/values", nil).data(t, &hosts)
	if len(hosts) != 2 {
		t.Errorf("hosts %v", hosts)
	}
	// Grafana's health check reads the error text of a failed query.
	r = g.query("api/v1/query", url.Values{"query": {"1+"}, "time": {"4"}})
	var e pcptest.APIResponse
	if err := json.Unmarshal(r.body, &e); err != nil || r.code != 400 || e.ErrorType != "bad_data" || e.Error == "" {
		t.Errorf("failed query: %d %s", r.code, r.body)
	}
}
