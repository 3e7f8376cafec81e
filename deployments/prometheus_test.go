package deployments

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// promConfig is the part of a prometheus.yml checked here; promtool checks
// the whole.
type promConfig struct {
	RemoteRead []struct {
		URL                  string            `json:"url"`
		Name                 string            `json:"name"`
		ReadRecent           bool              `json:"read_recent"`
		FilterExternalLabels *bool             `json:"filter_external_labels"`
		RequiredMatchers     map[string]string `json:"required_matchers"`
	} `json:"remote_read"`
}

func prometheusConfigs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("prometheus/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no prometheus/*.yml: %v", err)
	}
	return files
}

// TestPromtoolCheckConfig runs `promtool check config` on every example
// prometheus.yml (Debian's promtool 2.42: the examples keep to what 2.42
// accepts). Without promtool it skips, or fails under CI=true.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool, ok := lookPath("promtool")
	Require(t, "promtool (Debian package prometheus)", ok)
	for _, f := range prometheusConfigs(t) {
		out, err := exec.Command(promtool, "check", "config", f).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check config %s: %v\n%s", f, err, out)
		} else {
			t.Logf("%s", strings.TrimSpace(string(out)))
		}
	}
}

// TestPrometheusRemoteRead checks what promtool cannot: every remote_read
// entry has the settings pcp-remote-read needs, and every URL (in the
// prometheus.yml examples and the prometheus-operator resource) names a
// Service and port that an overlay really creates (hosts outside the
// cluster, *.example.com, excepted).
func TestPrometheusRemoteRead(t *testing.T) {
	services := map[string]bool{} // "name.namespace.svc:port"
	for _, b := range buildOutputs(t) {
		for _, o := range b.objects {
			if s, ok := o.(*corev1.Service); ok {
				for _, p := range s.Spec.Ports {
					services[fmt.Sprintf("%s.%s.svc:%d", s.Name, s.Namespace, p.Port)] = true
				}
			}
		}
	}
	checkURL := func(where, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		host, _, _ := net.SplitHostPort(u.Host)
		if strings.HasSuffix(host, ".example.com") {
			return
		}
		if !services[u.Host] {
			t.Errorf("%s: %s is no Service of the overlays (have %v)", where, u.Host, services)
		}
		if u.Path != "/api/v1/read" {
			t.Errorf("%s: path %s, want /api/v1/read", where, u.Path)
		}
	}

	for _, f := range prometheusConfigs(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c promConfig
		if err := yaml.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(c.RemoteRead) == 0 {
			t.Errorf("%s: no remote_read", f)
		}
		for _, rr := range c.RemoteRead {
			where := f + ": remote_read " + rr.Name
			if !rr.ReadRecent {
				t.Errorf("%s: read_recent must be true", where)
			}
			if rr.FilterExternalLabels == nil || *rr.FilterExternalLabels {
				t.Errorf("%s: filter_external_labels must be false", where)
			}
			checkURL(where, rr.URL)
		}
	}

	data, err := os.ReadFile("prometheus/prometheus-operator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeObject(data)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := obj.(*monitoringv1.Prometheus)
	if !ok {
		t.Fatalf("prometheus-operator.yaml: %T, want a Prometheus", obj)
	}
	for _, rr := range p.Spec.RemoteRead {
		checkURL("prometheus-operator.yaml: remoteRead "+rr.Name, string(rr.URL))
	}
}
