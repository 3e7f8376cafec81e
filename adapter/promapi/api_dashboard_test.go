package promapi

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

const grafanaDir = "../../deployments/grafana"

// provisionedDataSource reads the uid and timeInterval of the provisioned
// data source (a line scan: the file is ours and flat).
func provisionedDataSource(t *testing.T) (uid string, scrape time.Duration) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(grafanaDir, "provisioning/datasources/pcp-remote-read.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch v = strings.TrimSpace(v); k {
		case "uid":
			uid = v
		case "timeInterval":
			d, err := model.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			scrape = time.Duration(d)
		case "type":
			if v != "prometheus" {
				t.Errorf("data source type %q", v)
			}
		}
	}
	if uid == "" || scrape == 0 {
		t.Fatalf("no uid or timeInterval in the data source")
	}
	return uid, scrape
}

type dashboard struct {
	Title string `json:"title"`
	Time  struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Query struct {
				Query string `json:"query"`
			} `json:"query"`
			IncludeAll bool `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Legend     string `json:"legendFormat"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([^,]+?)\s*,\s*(\w+)\s*\)$`)

// TestDashboardQueries runs every query of the Grafana dashboards in
// deployments/grafana as Grafana would over the demo set: the $hostname
// variable's values from its label_values() query, then each panel target
// as a range query over the dashboard's time range, once per host and once
// for "All". Every one must return series with values, carry the labels
// its legend names, and draw no warning.
func TestDashboardQueries(t *testing.T) {
	uid, scrape := provisionedDataSource(t)
	files, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	h := demoAPI(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			from, err1 := time.Parse(time.RFC3339, d.Time.From)
			to, err2 := time.Parse(time.RFC3339, d.Time.To)
			if err1 != nil || err2 != nil {
				t.Fatalf("time range %v: %v %v", d.Time, err1, err2)
			}
			// Grafana's step for a full-width panel (~1000 px max data
			// points), and $__rate_interval = max(interval + scrape
			// interval, 4 x scrape interval).
			step := max(to.Sub(from)/1000, scrape).Round(time.Second)
			rateInterval := max(step+scrape, 4*scrape)
			rng := url.Values{"start": {grafanaTime(from)}, "end": {grafanaTime(to)}}

			// The variable.
			var hosts []string
			for _, v := range d.Templating.List {
				if v.Datasource.UID != uid {
					t.Errorf("variable %s: data source %q, want %q", v.Name, v.Datasource.UID, uid)
				}
				m := labelValuesQuery.FindStringSubmatch(v.Query.Query)
				if v.Name != "hostname" || m == nil || !v.IncludeAll {
					t.Fatalf("variable %s: query %q", v.Name, v.Query.Query)
				}
				params := url.Values{"match[]": {m[1]}, "start": rng["start"], "end": rng["end"]}
				apiGet(t, h, "/api/v1/label/"+m[2]+"/values", params).data(t, &hosts)
			}
			if strings.Join(hosts, ",") != "demo-db1,demo-web1" {
				t.Fatalf("$hostname values %v", hosts)
			}
			// Grafana's "All" for a Prometheus regex: (a|b). -short runs
			// only that: it covers every host.
			all := "(" + strings.Join(hosts, "|") + ")"
			choices := append(append([]string{}, hosts...), all)
			if testing.Short() {
				choices = []string{all}
			}

			n := 0
			for _, p := range d.Panels {
				if p.Datasource.UID != uid {
					t.Errorf("panel %q: data source %q", p.Title, p.Datasource.UID)
				}
				for _, tg := range p.Targets {
					if tg.Datasource.UID != uid {
						t.Errorf("panel %q %s: data source %q", p.Title, tg.RefID, tg.Datasource.UID)
					}
					for _, host := range choices {
						expr := strings.NewReplacer("$hostname", host, "$__rate_interval", model.Duration(rateInterval).String()).Replace(tg.Expr)
						if strings.Contains(expr, "$") {
							t.Fatalf("panel %q: unresolved variable in %s", p.Title, expr)
						}
						params := url.Values{"query": {expr}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}, "start": rng["start"], "end": rng["end"]}
						r := apiPost(t, h, "/api/v1/query_range", params)
						var m matrixResult
						r.data(t, &m)
						if len(m.Result) == 0 || len(r.env.Warnings) > 0 {
							t.Errorf("panel %q %s for %s: %d series, warnings %v", p.Title, tg.RefID, host, len(m.Result), r.env.Warnings)
							continue
						}
						for _, s := range m.Result {
							if len(s.Values) < 100 {
								t.Errorf("panel %q %s for %s: %v has %d points", p.Title, tg.RefID, host, s.Metric, len(s.Values))
							}
							if host != all && s.Metric["hostname"] != host {
								t.Errorf("panel %q %s for %s: series of %v", p.Title, tg.RefID, host, s.Metric)
							}
							for _, l := range legendLabels(tg.Legend) {
								if s.Metric[l] == "" {
									t.Errorf("panel %q %s: legend %q names %s, series %v lacks it", p.Title, tg.RefID, tg.Legend, l, s.Metric)
								}
							}
						}
						n++
					}
				}
			}
			t.Logf("%s: %d queries over %s..%s, step %v, $__rate_interval %v", d.Title, n, d.Time.From, d.Time.To, step, rateInterval)
		})
	}
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

func legendLabels(legend string) []string {
	var out []string
	for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
		out = append(out, m[1])
	}
	return out
}
