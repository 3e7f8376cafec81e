package promapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/annotations"
	"go.yaml.in/yaml/v2"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// Both methods Grafana may use for query, query_range, series and labels.
var methods = []struct {
	name string
	call func(testing.TB, http.Handler, string, url.Values) apiReply
}{{"GET", apiGet}, {"POST", apiPost}}

func TestAPIHealthCheckQuery(t *testing.T) {
	// Grafana's "Save & test": 1+1 at 4 s after the epoch, long before any
	// archive (healthcheck.go). The exact bytes Prometheus sends.
	h := demoAPI(t)
	for _, m := range methods {
		r := m.call(t, h, "/api/v1/query", url.Values{"query": {"1+1"}, "time": {"4"}})
		want := `{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}`
		if r.code != 200 || string(r.body) != want {
			t.Errorf("%s: %d %s, want %s", m.name, r.code, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", m.name, ct)
		}
	}
}

func TestAPIInstantQuery(t *testing.T) {
	h := demoAPI(t)
	params := url.Values{"query": {`kernel_all_load{hostname="demo-web1"}`}, "time": {"2026-11-19T15:00:30.25Z"}}
	// The 1-minute load of demo-web1 at 15:00:01.8, a FLOAT widened to
	// double, in labels.Compare order.
	want := `{"status":"success","data":{"resultType":"vector","result":[` +
		`{"metric":{"__name__":"kernel_all_load","hostname":"demo-web1","instid":"1","instname":"1 minute"},"value":[1795100430.250,"1.2999999523162842"]},` +
		`{"metric":{"__name__":"kernel_all_load","hostname":"demo-web1","instid":"15","instname":"15 minute"},"value":[1795100430.250,"1.25"]},` +
		`{"metric":{"__name__":"kernel_all_load","hostname":"demo-web1","instid":"5","instname":"5 minute"},"value":[1795100430.250,"1.2400000095367432"]}]}}`
	for _, m := range methods {
		r := m.call(t, h, "/api/v1/query", params)
		if string(r.body) != want {
			t.Errorf("%s:\n got %s\nwant %s", m.name, r.body, want)
		}
	}
	// Float unix seconds, as Grafana sends them, mean the same time.
	params.Set("time", "1795100430.25")
	if r := apiGet(t, h, "/api/v1/query", params); string(r.body) != want {
		t.Errorf("float time: %s", r.body)
	}
}

func TestAPIInstantQueryDefaultsToNow(t *testing.T) {
	h := demoAPI(t)
	r := apiGet(t, h, "/api/v1/query", url.Values{"query": {"time()"}})
	want := `{"status":"success","data":{"resultType":"scalar","result":[1795219200,"1795219200"]}}`
	if string(r.body) != want {
		t.Errorf("got %s, want %s", r.body, want)
	}
}

func TestAPIRangeQuery(t *testing.T) {
	h := demoAPI(t)
	params := url.Values{
		"query": {`mem_util_used{hostname="demo-web1"}`},
		"start": {"2026-11-19T15:00:30Z"}, "end": {"1795100550"}, "step": {"60"},
	}
	// Three steps, each the latest sample (15:00:01.8, 15:00:34.8,
	// 15:01:34.8 in libpcp's dump) within the lookback.
	want := `{"status":"success","data":{"resultType":"matrix","result":[` +
		`{"metric":{"__name__":"mem_util_used","hostname":"demo-web1"},"values":[[1795100430,"2887084"],[1795100490,"2882828"],[1795100550,"2890784"]]}]}}`
	for _, m := range methods {
		if r := m.call(t, h, "/api/v1/query_range", params); string(r.body) != want {
			t.Errorf("%s:\n got %s\nwant %s", m.name, r.body, want)
		}
	}
	// Step as a duration, as Prometheus' UI sends it.
	params.Set("step", "1m")
	if r := apiGet(t, h, "/api/v1/query_range", params); string(r.body) != want {
		t.Errorf("step 1m: %s", r.body)
	}
}

func TestAPIRangeQueryDropsName(t *testing.T) {
	// Functions drop __name__ (docs/remote-read-protocol.md §13.3); a series
	// seen through a restart has a gap, not a line across it.
	h := demoAPI(t)
	r := apiPost(t, h, "/api/v1/query_range", url.Values{
		"query": {`rate(kernel_all_pswitch{hostname="demo-db1"}[5m])`},
		"start": {"2026-11-19T11:00:30Z"}, "end": {"2026-11-19T13:00:30Z"}, "step": {"60"},
	})
	var m matrixResult
	r.data(t, &m)
	if m.ResultType != "matrix" || len(m.Result) != 1 {
		t.Fatalf("got %s", r.body)
	}
	if want := map[string]string{"hostname": "demo-db1"}; !reflect.DeepEqual(m.Result[0].Metric, want) {
		t.Errorf("labels %v, want %v", m.Result[0].Metric, want)
	}
	down := time.Date(2026, 11, 19, 11, 59, 50, 0, time.UTC).Unix()
	up := time.Date(2026, 11, 19, 12, 30, 0, 0, time.UTC).Unix()
	n := 0
	for _, p := range m.Result[0].Values {
		ts := int64(p[0].(float64))
		// Range functions see the samples before the mark for 5m.
		if ts > down+300 && ts < up {
			t.Errorf("rate at %d, during the outage", ts)
		}
		n++
	}
	if n < 60 {
		t.Errorf("only %d points", n)
	}
	if r.env.Warnings != nil || r.env.Infos != nil {
		t.Errorf("warnings %v, infos %v", r.env.Warnings, r.env.Infos)
	}
}

func TestAPICounterInfo(t *testing.T) {
	// Prometheus 3 notes that a name without _total "might not be a
	// counter". PCP says which metrics are counters: the note is dropped
	// for them and kept for gauges.
	h := demoAPI(t)
	params := func(q string) url.Values {
		return url.Values{"query": {q}, "start": {demoAt}, "end": {demoAt}, "step": {"60"}}
	}
	if r := apiGet(t, h, "/api/v1/query_range", params(`rate(kernel_all_cpu_user[5m])`)); len(r.env.Infos) != 0 {
		t.Errorf("counter: infos %v", r.env.Infos)
	}
	r := apiGet(t, h, "/api/v1/query_range", params(`rate(kernel_all_load[5m])`))
	want := []string{`PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "kernel_all_load" (1:6)`}
	if !reflect.DeepEqual(r.env.Infos, want) {
		t.Errorf("gauge: infos %q, want %q", r.env.Infos, want)
	}
}

func TestAPISpecialFloats(t *testing.T) {
	// Values as strings in Prometheus' formatting: shortest 'f' form, 'e'
	// below 1e-6 and from 1e21, NaN and infinities spelt out. Scalars use
	// 'f' always (promql.Scalar.MarshalJSON). The wanted bytes are what
	// Prometheus 2.42 and 3.15 answer to the same queries.
	h := demoAPI(t)
	cases := []struct{ query, time, want string }{
		{"vector(1/0)", "4", `[{"metric":{},"value":[4,"+Inf"]}]`},
		{"vector(-1/0)", "4.5", `[{"metric":{},"value":[4.500,"-Inf"]}]`},
		{"vector(0/0)", "4.05", `[{"metric":{},"value":[4.050,"NaN"]}]`},
		{"vector(1e-7)", "4.005", `[{"metric":{},"value":[4.005,"1e-07"]}]`},
		{"vector(1e21)", "4", `[{"metric":{},"value":[4,"1e+21"]}]`},
		{"vector(123456789012345678)", "4", `[{"metric":{},"value":[4,"123456789012345680"]}]`},
		{"vector(-0.5)", "-1.5", `[{"metric":{},"value":[-1.500,"-0.5"]}]`},
		{"1e-7", "4.005", `[4.005,"0.0000001"]`},
		{"-1/0", "4", `[4,"-Inf"]`},
		{"0/0", "4", `[4,"NaN"]`},
		{"1e22", "4.1234", `[4.123,"10000000000000000000000"]`},
		{`"a<b"`, "4", `[4,"a\u003cb"]`},
	}
	for _, c := range cases {
		r := apiGet(t, h, "/api/v1/query", url.Values{"query": {c.query}, "time": {c.time}})
		var d struct {
			Result json.RawMessage `json:"result"`
		}
		r.data(t, &d)
		if string(d.Result) != c.want {
			t.Errorf("%s at %s: %s, want %s", c.query, c.time, d.Result, c.want)
		}
	}
}

func TestAPIArchiveSpecialValues(t *testing.T) {
	// pcp-qa/value-test holds NaN and infinite values (testdata/README.md).
	st := pcptest.Storage(t, multiarchive.Options{}, "../../testdata/pcp-qa/value-test")
	h, _ := newAPI(t, st, st, nil)
	r := apiGet(t, h, "/api/v1/query", url.Values{"query": {`{__name__=~".+"}[1m]`}, "time": {"30"}})
	var m matrixResult
	r.data(t, &m)
	seen := map[string]bool{}
	for _, s := range m.Result {
		for _, p := range s.Values {
			v := p[1].(string)
			seen[v] = true
		}
	}
	for _, v := range []string{"NaN", "+Inf", "-Inf"} {
		if !seen[v] {
			t.Errorf("no %s among the archive's values", v)
		}
	}
}

func TestAPIQueryErrors(t *testing.T) {
	h := demoAPI(t)
	cases := []struct {
		name   string
		path   string
		params url.Values
		code   int
		typ    string
		msg    string
	}{
		{"bad PromQL", "/api/v1/query", url.Values{"query": {"sum("}, "time": {"4"}}, 400, "bad_data",
			`invalid parameter "query": 1:5: parse error: unclosed left parenthesis`},
		{"no query", "/api/v1/query", url.Values{"time": {"4"}}, 400, "bad_data", `invalid parameter "query": `},
		{"bad time", "/api/v1/query", url.Values{"query": {"1"}, "time": {"yesterday"}}, 400, "bad_data",
			`invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`},
		{"bad timeout", "/api/v1/query", url.Values{"query": {"1"}, "timeout": {"soon"}}, 400, "bad_data",
			`invalid parameter "timeout": cannot parse "soon" to a valid duration`},
		{"bad limit", "/api/v1/query", url.Values{"query": {"1"}, "limit": {"-1"}}, 400, "bad_data",
			`invalid parameter "limit": limit must be non-negative`},
		{"bad lookback_delta", "/api/v1/query", url.Values{"query": {"1"}, "lookback_delta": {"x"}}, 400, "bad_data",
			`error parsing lookback delta duration: cannot parse "x" to a valid duration`},
		{"zero step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"60"}, "step": {"0"}}, 400, "bad_data",
			`invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`},
		{"negative step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"60"}, "step": {"-1"}}, 400, "bad_data",
			`invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`},
		{"no step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"60"}}, 400, "bad_data",
			`invalid parameter "step": cannot parse "" to a valid duration`},
		{"end before start", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"60"}, "end": {"0"}, "step": {"1"}}, 400, "bad_data",
			`invalid parameter "end": end timestamp must not be before start time`},
		{"11001 points", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}}, 400, "bad_data",
			`exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)`},
		{"many-to-many", "/api/v1/query", url.Values{"query": {`kernel_all_load + on(hostname) kernel_all_load`}, "time": {demoAt}}, 422, "execution",
			`found duplicate series for the match group {hostname="demo-db1"} on the right hand-side of the operation`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := apiGet(t, h, c.path, c.params)
			if r.code != c.code || r.env.Status != "error" || r.env.ErrorType != c.typ || !strings.HasPrefix(r.env.Error, c.msg) {
				t.Errorf("got %d %s, want %d %s %q", r.code, r.body, c.code, c.typ, c.msg)
			}
			if r.env.Data != nil || r.env.Warnings != nil {
				t.Errorf("error envelope with data or warnings: %s", r.body)
			}
		})
	}
	// Exactly 11000 points is allowed.
	r := apiGet(t, h, "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"11000"}, "step": {"1"}})
	if r.code != 200 {
		t.Errorf("11000 points: %d %s", r.code, r.body)
	}
}

func TestAPIEngineLimits(t *testing.T) {
	st := demoStorage(t)
	t.Run("too many samples", func(t *testing.T) {
		h, m := newAPI(t, st, st, func(o *APIOptions) { o.MaxSamples = 10 })
		r := apiGet(t, h, "/api/v1/query", url.Values{"query": {"kernel_all_load[1h]"}, "time": {demoAt}})
		if r.code != 422 || r.env.ErrorType != "execution" ||
			r.env.Error != "query processing would load too many samples into memory in query execution" {
			t.Errorf("got %d %s", r.code, r.body)
		}
		if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerQuery, errKindLimit)); got != 1 {
			t.Errorf("limit errors %v", got)
		}
	})
	t.Run("storage sample budget", func(t *testing.T) {
		small := translate.New(pcptest.OpenSet(t, multiarchive.Options{}, "../../testdata/demo"), translate.Options{MaxSamples: 100})
		h, _ := newAPI(t, small, small, nil)
		r := apiGet(t, h, "/api/v1/query", url.Values{"query": {"kernel_all_load[1d]"}, "time": {demoAt}})
		if r.code != 422 || r.env.ErrorType != "execution" || !strings.Contains(r.env.Error, "query selects more than 100 samples") {
			t.Errorf("got %d %s", r.code, r.body)
		}
	})
	t.Run("timeout parameter", func(t *testing.T) {
		fake := pcptest.BlockingQueryable()
		h, m := newAPI(t, fake, noMetadata{}, nil)
		r := apiGet(t, h, "/api/v1/query", url.Values{"query": {"m"}, "time": {"10"}, "timeout": {"50ms"}})
		if r.code != 503 || r.env.ErrorType != "timeout" {
			t.Errorf("got %d %s", r.code, r.body)
		}
		if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerQuery, errKindLimit)); got != 1 {
			t.Errorf("limit errors %v", got)
		}
	})
	t.Run("engine timeout", func(t *testing.T) {
		fake := pcptest.BlockingQueryable()
		h, _ := newAPI(t, fake, noMetadata{}, func(o *APIOptions) { o.Timeout = 50 * time.Millisecond })
		r := apiGet(t, h, "/api/v1/query_range", url.Values{"query": {"m"}, "start": {"0"}, "end": {"10"}, "step": {"1"}})
		if r.code != 503 || r.env.ErrorType != "timeout" || !strings.HasPrefix(r.env.Error, "query timed out in ") {
			t.Errorf("got %d %s", r.code, r.body)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		fake := pcptest.BlockingQueryable()
		h, m := newAPI(t, fake, noMetadata{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest(http.MethodGet, "/api/v1/query?query=m&time=10", nil).WithContext(ctx)
		go func() {
			<-fake.Entered
			cancel()
		}()
		r := do(t, h, req)
		if r.code != 499 || r.env.ErrorType != "canceled" {
			t.Errorf("got %d %s", r.code, r.body)
		}
		if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerQuery, errKindCanceled)); got != 1 {
			t.Errorf("canceled errors %v", got)
		}
	})
	t.Run("storage error", func(t *testing.T) {
		fake := &pcptest.FakeQueryable{SelectErr: errors.New("20261120.0: offset 81920: record length 7 < 8")}
		h, m := newAPI(t, fake, noMetadata{}, nil)
		r := apiGet(t, h, "/api/v1/query", url.Values{"query": {"m"}, "time": {"10"}})
		if r.code != 500 || r.env.ErrorType != "internal" ||
			r.env.Error != "expanding series: 20261120.0: offset 81920: record length 7 < 8" {
			t.Errorf("got %d %s", r.code, r.body)
		}
		if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerQuery, errKindInternal)); got != 1 {
			t.Errorf("internal errors %v", got)
		}
		r = apiGet(t, h, "/api/v1/series", url.Values{"match[]": {"m"}})
		if r.code != 500 || r.env.ErrorType != "internal" {
			t.Errorf("series: got %d %s", r.code, r.body)
		}
	})
}

func TestAPIQueryConcurrency(t *testing.T) {
	// One PromQL query at a time: the second waits for the first, within
	// its own timeout, then fails as Prometheus' queue does (503).
	fake := pcptest.BlockingQueryable()
	h, _ := newAPI(t, fake, noMetadata{}, func(o *APIOptions) { o.MaxConcurrent = 1 })
	first := make(chan apiReply)
	go func() { first <- apiGet(t, h, "/api/v1/query", url.Values{"query": {"m"}, "time": {"10"}}) }()
	<-fake.Entered
	r := apiGet(t, h, "/api/v1/query", url.Values{"query": {"m"}, "time": {"10"}, "timeout": {"100ms"}})
	if r.code != 503 || r.env.ErrorType != "timeout" || r.env.Error != "query timed out in query queue" {
		t.Errorf("queued query: %d %s", r.code, r.body)
	}
	// A waiting query gets the slot once it is free.
	second := make(chan apiReply)
	go func() { second <- apiGet(t, h, "/api/v1/query", url.Values{"query": {"m"}, "time": {"10"}}) }()
	time.Sleep(20 * time.Millisecond)
	close(fake.Block)
	for _, c := range []chan apiReply{first, second} {
		if r := <-c; r.code != 200 {
			t.Errorf("%d %s", r.code, r.body)
		}
	}
}

func TestAPIQueryLimit(t *testing.T) {
	h := demoAPI(t)
	for _, path := range []string{"/api/v1/query", "/api/v1/query_range"} {
		params := url.Values{"query": {"kernel_all_load"}, "time": {demoAt}, "start": {demoAt}, "end": {demoAt}, "step": {"60"}}
		for _, c := range []struct {
			limit string
			n     int
			warn  bool
		}{{"", 6, false}, {"0", 6, false}, {"6", 6, false}, {"2", 2, true}} {
			params.Set("limit", c.limit)
			r := apiGet(t, h, path, params)
			var d struct {
				Result []json.RawMessage `json:"result"`
			}
			r.data(t, &d)
			warned := reflect.DeepEqual(r.env.Warnings, []string{"results truncated due to limit"})
			if len(d.Result) != c.n || warned != c.warn || !c.warn && r.env.Warnings != nil {
				t.Errorf("%s limit=%q: %d results, warnings %v", path, c.limit, len(d.Result), r.env.Warnings)
			}
		}
	}
}

func TestAPISeries(t *testing.T) {
	h := demoAPI(t)
	want := []map[string]string{
		{"__name__": "network_interface_in_bytes", "hostname": "demo-db1", "instid": "0", "instname": "lo"},
		{"__name__": "network_interface_in_bytes", "hostname": "demo-db1", "instid": "1", "instname": "eth0"},
		{"__name__": "network_interface_in_bytes", "hostname": "demo-web1", "instid": "0", "instname": "lo"},
		{"__name__": "network_interface_in_bytes", "hostname": "demo-web1", "instid": "1", "instname": "eth0"},
	}
	for _, m := range methods {
		// No start and end: all time, clamped by the storage.
		var got []map[string]string
		m.call(t, h, "/api/v1/series", url.Values{"match[]": {"network_interface_in_bytes"}}).data(t, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v", m.name, got)
		}
	}
	t.Run("several match[] are merged", func(t *testing.T) {
		var got []map[string]string
		apiPost(t, h, "/api/v1/series", url.Values{
			"match[]": {`network_interface_in_bytes{hostname="demo-web1"}`, `{__name__="network_interface_in_bytes",instname="eth0"}`, `mem_physmem`},
			"start":   {demoStart}, "end": {demoEnd},
		}).data(t, &got)
		var names []string
		for _, s := range got {
			names = append(names, s["__name__"]+"/"+s["hostname"]+"/"+s["instname"])
		}
		wantNames := []string{"mem_physmem/demo-db1/", "mem_physmem/demo-web1/", "network_interface_in_bytes/demo-db1/eth0",
			"network_interface_in_bytes/demo-web1/lo", "network_interface_in_bytes/demo-web1/eth0"}
		if !reflect.DeepEqual(names, wantNames) {
			t.Errorf("got %v", names)
		}
	})
	t.Run("window before the archives", func(t *testing.T) {
		r := apiGet(t, h, "/api/v1/series", url.Values{"match[]": {"kernel_all_load"}, "start": {"0"}, "end": {"1000"}})
		if string(r.body) != `{"status":"success","data":[]}` {
			t.Errorf("got %s", r.body)
		}
	})
	t.Run("limit", func(t *testing.T) {
		var got []map[string]string
		r := apiGet(t, h, "/api/v1/series", url.Values{"match[]": {"network_interface_in_bytes"}, "limit": {"3"}})
		r.data(t, &got)
		if len(got) != 3 || !reflect.DeepEqual(r.env.Warnings, []string{"results truncated due to limit"}) {
			t.Errorf("got %d series, warnings %v", len(got), r.env.Warnings)
		}
		r = apiGet(t, h, "/api/v1/series", url.Values{"match[]": {"network_interface_in_bytes"}, "limit": {"4"}})
		if r.env.Warnings != nil {
			t.Errorf("exact fit warned: %v", r.env.Warnings)
		}
	})
	errCases := []struct {
		name   string
		params url.Values
		msg    string
	}{
		{"no match[]", url.Values{}, "no match[] parameter provided"},
		{"empty matcher", url.Values{"match[]": {`{instname=~".*"}`}}, `invalid parameter "match[]": match[] must contain at least one non-empty matcher`},
		{"bad selector", url.Values{"match[]": {`kernel_all_load{`}}, `invalid parameter "match[]": `},
		{"bad start", url.Values{"match[]": {"x"}, "start": {"x"}}, `invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp`},
		{"bad limit", url.Values{"match[]": {"x"}, "limit": {"x"}}, `invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax`},
	}
	for _, c := range errCases {
		for _, m := range methods {
			r := m.call(t, h, "/api/v1/series", c.params)
			if r.code != 400 || r.env.ErrorType != "bad_data" || !strings.HasPrefix(r.env.Error, c.msg) {
				t.Errorf("%s %s: %d %s", c.name, m.name, r.code, r.body)
			}
		}
	}
}

func TestAPILabels(t *testing.T) {
	h := demoAPI(t)
	cases := []struct {
		name   string
		params url.Values
		want   []string
	}{
		{"all time", url.Values{}, []string{"__name__", "hostname", "instid", "instname"}},
		{"singular metric", url.Values{"match[]": {"mem_physmem"}}, []string{"__name__", "hostname"}},
		{"two matchers", url.Values{"match[]": {"mem_physmem", "kernel_all_load"}, "start": {demoStart}, "end": {demoEnd}},
			[]string{"__name__", "hostname", "instid", "instname"}},
		{"before the archives", url.Values{"start": {"0"}, "end": {"100"}}, []string{}},
	}
	for _, c := range cases {
		for _, m := range methods {
			var got []string
			m.call(t, h, "/api/v1/labels", c.params).data(t, &got)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s %s: %v, want %v", c.name, m.name, got, c.want)
			}
		}
	}
	r := apiGet(t, h, "/api/v1/labels", url.Values{"limit": {"2"}})
	if string(r.body) != `{"status":"success","data":["__name__","hostname"],"warnings":["results truncated due to limit"]}` {
		t.Errorf("limit: %s", r.body)
	}
	r = apiPost(t, h, "/api/v1/labels", url.Values{"match[]": {"{"}})
	if r.code != 400 || r.env.ErrorType != "bad_data" {
		t.Errorf("bad match[]: %d %s", r.code, r.body)
	}
}

func TestAPILabelValues(t *testing.T) {
	h := demoAPI(t)
	cases := []struct {
		name, label string
		params      url.Values
		want        []string
	}{
		{"hosts", "hostname", url.Values{}, []string{"demo-db1", "demo-web1"}},
		{"instances of a metric", "instname", url.Values{"match[]": {"disk_dev_read"}}, []string{"sda", "sdb"}},
		{"two matchers", "instname", url.Values{"match[]": {"disk_dev_read", `network_interface_in_bytes{hostname="demo-web1"}`}},
			[]string{"eth0", "lo", "sda", "sdb"}},
		{"U__ escaped name", "U__host_6e_ame", url.Values{}, []string{"demo-db1", "demo-web1"}},
		{"unknown label", "nope", url.Values{}, []string{}},
		{"before the archives", "hostname", url.Values{"start": {"0"}, "end": {"100"}}, []string{}},
	}
	for _, c := range cases {
		var got []string
		apiGet(t, h, "/api/v1/label/"+c.label+"/values", c.params).data(t, &got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	var names []string
	apiGet(t, h, "/api/v1/label/__name__/values", url.Values{"start": {demoStart}, "end": {demoEnd}}).data(t, &names)
	// 21 metrics, kernel.uname.release is a STRING and not served.
	if len(names) != 20 || names[0] != "disk_dev_read" || names[19] != "network_interface_out_bytes" {
		t.Errorf("metric names %v", names)
	}
	r := apiGet(t, h, "/api/v1/label/__name__/values", url.Values{"limit": {"1"}})
	if string(r.body) != `{"status":"success","data":["disk_dev_read"],"warnings":["results truncated due to limit"]}` {
		t.Errorf("limit: %s", r.body)
	}
	for _, bad := range []string{"%FF", "U__bad_zz_"} {
		r := apiGet(t, h, "/api/v1/label/"+bad+"/values", nil)
		if bad == "U__bad_zz_" {
			// Not a valid escape: kept as it is, which is a valid UTF-8 name.
			if r.code != 200 {
				t.Errorf("%s: %d %s", bad, r.code, r.body)
			}
			continue
		}
		if r.code != 400 || r.env.ErrorType != "bad_data" || r.env.Error != `invalid label name: "\xff"` {
			t.Errorf("%s: %d %s", bad, r.code, r.body)
		}
	}
}

func TestAPIMetadata(t *testing.T) {
	h := demoAPI(t)
	type md struct{ Type, Help, Unit string }
	var got map[string][]md
	apiGet(t, h, "/api/v1/metadata", nil).data(t, &got)
	// 20 numeric metrics; PCP semantics and units; pmi writes no help.
	want := map[string]md{
		"kernel_all_load":             {"gauge", "", ""},
		"kernel_all_cpu_user":         {"counter", "", "millisec"},
		"hinv_ncpu":                   {"gauge", "", ""},
		"mem_util_used":               {"gauge", "", "Kbyte"},
		"disk_dev_read":               {"counter", "", "count"},
		"network_interface_in_bytes":  {"counter", "", "byte"},
		"network_interface_out_bytes": {"counter", "", "byte"},
	}
	if len(got) != 20 {
		t.Errorf("%d metrics: %v", len(got), got)
	}
	for name, w := range want {
		if len(got[name]) != 1 || got[name][0] != w {
			t.Errorf("%s: %v, want %v", name, got[name], w)
		}
	}
	r := apiGet(t, h, "/api/v1/metadata", url.Values{"metric": {"mem_util_cached"}})
	if string(r.body) != `{"status":"success","data":{"mem_util_cached":[{"type":"gauge","unit":"Kbyte","help":""}]}}` {
		t.Errorf("metric: %s", r.body)
	}
	for _, c := range []struct {
		params url.Values
		n      int
	}{
		{url.Values{"limit": {"3"}}, 3},
		{url.Values{"limit": {"-1"}}, 20},
		{url.Values{"limit": {"40000"}}, 20},
		{url.Values{"limit": {"0"}}, 0}, // as Prometheus
		{url.Values{"metric": {"nope"}}, 0},
	} {
		got = nil
		r := apiGet(t, h, "/api/v1/metadata", c.params)
		r.data(t, &got)
		if len(got) != c.n || r.env.Warnings != nil {
			t.Errorf("%v: %d metrics, warnings %v", c.params, len(got), r.env.Warnings)
		}
		if c.n == 0 && !bytes.Contains(r.body, []byte(`"data":{}`)) {
			t.Errorf("%v: empty metadata is %s", c.params, r.body)
		}
	}
	for _, p := range []string{"limit", "limit_per_metric"} {
		r := apiGet(t, h, "/api/v1/metadata", url.Values{p: {"x"}})
		if r.code != 400 || r.env.Error != p+" must be a number" {
			t.Errorf("%s=x: %d %s", p, r.code, r.body)
		}
	}
}

func TestAPIMetadataHelpText(t *testing.T) {
	// pmlogger's archives carry PCP's one-line help texts.
	st := pcptest.Storage(t, multiarchive.Options{}, "../../testdata/archives/v3-basic")
	h, _ := newAPI(t, st, st, nil)
	r := apiGet(t, h, "/api/v1/metadata", url.Values{"metric": {"kernel_all_pswitch"}})
	want := `{"status":"success","data":{"kernel_all_pswitch":[{"type":"counter","unit":"count","help":"context switches metric from /proc/stat"}]}}`
	if string(r.body) != want {
		t.Errorf("got  %s\nwant %s", r.body, want)
	}
}

func TestAPIMetadataLimitPerMetric(t *testing.T) {
	mds := fakeMetadata{
		{Name: "a", Type: "counter", Unit: "byte"}, {Name: "a", Type: "gauge", Unit: "byte"},
		{Name: "b", Type: "gauge", Help: "<b> & \u2028"},
	}
	h, _ := newAPI(t, &pcptest.FakeQueryable{}, mds, nil)
	r := apiGet(t, h, "/api/v1/metadata", url.Values{"limit_per_metric": {"1"}})
	want := `{"status":"success","data":{"a":[{"type":"counter","unit":"byte","help":""}],"b":[{"type":"gauge","unit":"","help":"\u003cb\u003e \u0026 \u2028"}]}}`
	if string(r.body) != want {
		t.Errorf("got  %s\nwant %s", r.body, want)
	}
	r = apiGet(t, h, "/api/v1/metadata", url.Values{"limit": {"1"}})
	want = `{"status":"success","data":{"a":[{"type":"counter","unit":"byte","help":""},{"type":"gauge","unit":"byte","help":""}]}}`
	if string(r.body) != want {
		t.Errorf("got  %s\nwant %s", r.body, want)
	}
}

func TestAPIBuildInfo(t *testing.T) {
	h := demoAPI(t)
	r := apiGet(t, h, "/api/v1/status/buildinfo", nil)
	want := `{"status":"success","data":{"version":"test","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":"go-test"}}`
	if string(r.body) != want {
		t.Errorf("got %s", r.body)
	}
	// No "features": Grafana would take the server for Mimir
	// (docs/remote-read-protocol.md §13.1).
	if bytes.Contains(r.body, []byte("features")) {
		t.Error("buildinfo has features")
	}
	var rt map[string]any
	apiGet(t, h, "/api/v1/status/runtimeinfo", nil).data(t, &rt)
	for _, k := range []string{"startTime", "CWD", "hostname", "serverTime", "reloadConfigSuccess", "goroutineCount", "GOMAXPROCS", "storageRetention"} {
		if _, ok := rt[k]; !ok {
			t.Errorf("runtimeinfo lacks %s", k)
		}
	}
}

func TestAPISmallEndpoints(t *testing.T) {
	h := demoAPI(t)
	for _, c := range []struct {
		path   string
		params url.Values
		want   string
	}{
		{"/api/v1/query_exemplars", url.Values{"query": {"kernel_all_load"}, "start": {demoStart}, "end": {demoEnd}}, `{"status":"success","data":[]}`},
		{"/api/v1/query_exemplars", url.Values{"query": {"1+1"}}, `{"status":"success","data":[]}`},
		{"/api/v1/format_query", url.Values{"query": {`sum(rate(x{a="b"}[5m]))by(c)`}}, `{"status":"success","data":"sum by (c) (rate(x{a=\"b\"}[5m]))"}`},
		{"/api/v1/rules", nil, `{"status":"success","data":{"groups":[]}}`},
		{"/api/v1/alerts", nil, `{"status":"success","data":{"alerts":[]}}`},
	} {
		if r := apiGet(t, h, c.path, c.params); string(r.body) != c.want {
			t.Errorf("%s %v: %s, want %s", c.path, c.params, r.body, c.want)
		}
	}
	for _, c := range []struct{ path, query string }{
		{"/api/v1/query_exemplars", "sum("},
		{"/api/v1/format_query", "sum("},
	} {
		r := apiPost(t, h, c.path, url.Values{"query": {c.query}})
		if r.code != 400 || r.env.ErrorType != "bad_data" {
			t.Errorf("%s %q: %d %s", c.path, c.query, r.code, r.body)
		}
	}
}

func TestAPIMethodsAndPaths(t *testing.T) {
	h := demoAPI(t)
	cases := []struct {
		method, path string
		code         int
		allow        string
	}{
		// Grafana posts label and series lookups first and retries with
		// GET on 405; label values and metadata are GET only, as in
		// Prometheus.
		{http.MethodPost, "/api/v1/label/hostname/values", 405, "GET, OPTIONS"},
		{http.MethodPost, "/api/v1/metadata", 405, "GET, OPTIONS"},
		{http.MethodPost, "/api/v1/status/buildinfo", 405, "GET, OPTIONS"},
		{http.MethodPut, "/api/v1/query", 405, "GET, POST, OPTIONS"},
		{http.MethodDelete, "/api/v1/series", 405, "GET, POST, OPTIONS"},
		{http.MethodOptions, "/api/v1/query_range", 204, "GET, POST, OPTIONS"},
		{http.MethodGet, "/api/v1/targets", 404, ""},
		{http.MethodGet, "/api/v1/label/hostname", 404, ""},
		{http.MethodGet, "/metrics", 404, ""},
	}
	for _, c := range cases {
		r := do(t, h, httptest.NewRequest(c.method, c.path, nil))
		if r.code != c.code || r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d (Allow %q), want %d (%q)", c.method, c.path, r.code, r.header.Get("Allow"), c.code, c.allow)
		}
	}
}

func TestAPIGzip(t *testing.T) {
	h := demoAPI(t)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D", nil)
	plain := do(t, h, req)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, plain.body) {
		t.Errorf("gzip body differs:\n%s\n%s", body, plain.body)
	}
}

func TestAPIMetricsPerHandler(t *testing.T) {
	st := demoStorage(t)
	h, m := newAPI(t, st, st, nil)
	apiGet(t, h, "/api/v1/query", url.Values{"query": {"kernel_all_load"}, "time": {demoAt}})
	apiGet(t, h, "/api/v1/query", url.Values{"query": {"sum("}})
	apiGet(t, h, "/api/v1/series", url.Values{"match[]": {"kernel_all_load"}})
	for _, c := range []struct {
		handler, code string
		want          float64
	}{{handlerQuery, "200", 1}, {handlerQuery, "400", 1}, {handlerSeries, "200", 1}, {handlerLabels, "200", 0}} {
		if got := pcptest.MetricValue(t, m.Requests.WithLabelValues(c.handler, c.code)); got != c.want {
			t.Errorf("requests{handler=%q,code=%q} = %v, want %v", c.handler, c.code, got, c.want)
		}
	}
	if got := pcptest.MetricValue(t, m.SeriesServed.WithLabelValues(handlerQuery, responseTypeJSON)); got != 6 {
		t.Errorf("series served %v", got)
	}
	if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerQuery, errKindBadRequest)); got != 1 {
		t.Errorf("bad requests %v", got)
	}
}

func TestNewAPIHandlerOptions(t *testing.T) {
	st := demoStorage(t)
	if _, err := NewAPIHandler(nil, st, APIOptions{MaxConcurrent: 1}, nil, nil); err == nil {
		t.Error("nil queryable accepted")
	}
	for _, o := range []APIOptions{{}, {MaxConcurrent: 1, Timeout: -1}, {MaxConcurrent: 1, LookbackDelta: -1}, {MaxConcurrent: 1, MaxSamples: -1}} {
		if _, err := NewAPIHandler(st, st, o, nil, nil); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestAPIJSONEncoding(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want string
	}{{0, "0"}, {4000, "4"}, {4500, "4.500"}, {4050, "4.050"}, {4005, "4.005"}, {-1500, "-1.500"}, {1795100430250, "1795100430.250"}} {
		if got := string(appendTimestamp(nil, c.ms)); got != c.want {
			t.Errorf("timestamp %d: %s, want %s", c.ms, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, `"0"`}, {math.Copysign(0, -1), `"-0"`}, {1.5, `"1.5"`}, {1e-6, `"0.000001"`}, {9.99e-7, `"9.99e-07"`},
		{1e20, `"100000000000000000000"`}, {1e21, `"1e+21"`}, {math.NaN(), `"NaN"`}, {math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`},
		{math.Float64frombits(0x7ff0000000000002), `"NaN"`}, // a staleness marker, should one ever reach a result
	} {
		if got := string(appendSampleValue(nil, c.v)); got != c.want {
			t.Errorf("value %v: %s, want %s", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		want string
	}{{4, "4"}, {1e-7, "1e-7"}, {1e21, "1e+21"}, {1795100430.25, "1795100430.25"}} {
		if got := string(appendJSONNumber(nil, c.v)); got != c.want {
			t.Errorf("number %v: %s, want %s", c.v, got, c.want)
		}
	}
	s := "a\"b\\c\n\r\t\x08\x0c\x01<>&\u2028é\xff"
	if got, want := string(appendString(nil, s)), `"a\"b\\c\n\r\t\u0008\u000c\u0001\u003c\u003e\u0026\u2028é\ufffd"`; got != want {
		t.Errorf("string: %s, want %s", got, want)
	}
	// Labels as Prometheus 3 writes them: no HTML escaping.
	ls := labels.FromStrings("a", "<x>&\u2028", "b", "\x08")
	if got, want := string(appendLabels(nil, ls)), "{\"a\":\"<x>&\u2028\",\"b\":\"\\u0008\"}"; got != want {
		t.Errorf("labels: %s, want %s", got, want)
	}
	// Every encoder's output is valid JSON, and strings survive a round trip.
	var back string
	if err := json.Unmarshal(appendString(nil, "é<\u2028"), &back); err != nil || back != "é<\u2028" {
		t.Errorf("round trip %q %v", back, err)
	}
}

func TestAPIParseTime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"4", time.Unix(4, 0)},
		{"1795100430.25", time.Unix(1795100430, 250e6)},
		{"1795100430.2504", time.Unix(1795100430, 250e6)}, // rounded to the ms
		{"-1.5", time.Unix(-1, -500e6)},
		{"2026-11-19T15:00:30.25Z", time.Unix(1795100430, 250e6)},
		{"2026-11-19T16:00:30+01:00", time.Unix(1795100430, 0)},
		{minTimeFormatted, minTime},
		{maxTimeFormatted, maxTime},
	} {
		got, err := parseTime(c.in)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%s: %v %v, want %v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want time.Duration
	}{{"15", 15 * time.Second}, {"0.5", 500 * time.Millisecond}, {"1m30s", 90 * time.Second}, {"1d", 24 * time.Hour}} {
		got, err := parseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseDuration("1e300"); err == nil || !strings.Contains(err.Error(), "overflows int64") {
		t.Errorf("1e300: %v", err)
	}
}

// fakeMetadata is a fixed MetadataSource, already sorted.
type fakeMetadata []translate.MetricMetadata

func (f fakeMetadata) Metadata(_ context.Context, metric string) ([]translate.MetricMetadata, annotations.Annotations, error) {
	var out []translate.MetricMetadata
	for _, md := range f {
		if metric == "" || md.Name == metric {
			out = append(out, md)
		}
	}
	return out, nil, nil
}

// TestAPIStatusConfigAndFlags: /api/v1/status/config carries the external
// labels as a Prometheus configuration's global.external_labels, read the
// way a Thanos sidecar reads them (its promclient unmarshals data.yaml
// into this struct), for values YAML would otherwise misread; without
// external labels the configuration is valid and has none.
// /api/v1/status/flags gives the flags as set.
func TestAPIStatusConfigAndFlags(t *testing.T) {
	ext := labels.FromStrings("shard", "a", "y", "on", "site", "a: \"b\"\n\t<&> é #c", "n", "007")
	flags := map[string]string{"archive": "/var/log/pcp/pmlogger", "labels.external": "n=007,shard=a"}
	for _, c := range []struct {
		name string
		ext  labels.Labels
	}{{"with external labels", ext}, {"without", labels.EmptyLabels()}} {
		t.Run(c.name, func(t *testing.T) {
			st := demoStorage(t)
			h, _ := newAPI(t, st, st, func(o *APIOptions) { o.ExternalLabels = c.ext; o.Flags = flags })
			var d struct {
				YAML string `json:"yaml"`
			}
			apiGet(t, h, "/api/v1/status/config", nil).data(t, &d)
			var cfg struct {
				GlobalConfig struct {
					ExternalLabels map[string]string `yaml:"external_labels"`
				} `yaml:"global"`
			}
			if err := yaml.Unmarshal([]byte(d.YAML), &cfg); err != nil {
				t.Fatalf("config %q: %v", d.YAML, err)
			}
			if got := labels.FromMap(cfg.GlobalConfig.ExternalLabels); !labels.Equal(got, c.ext) {
				t.Errorf("external labels %s, want %s (yaml %q)", got, c.ext, d.YAML)
			}
			var f map[string]string
			apiGet(t, h, "/api/v1/status/flags", nil).data(t, &f)
			if !maps.Equal(f, flags) {
				t.Errorf("flags %v, want %v", f, flags)
			}
		})
	}
}
