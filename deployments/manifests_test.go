package deployments

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/exporter-toolkit/web"
	corev1 "k8s.io/api/core/v1"
)

// yamlFiles lists the .yaml and .yml files under dir, sorted.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// isPrometheusConfig tells the Prometheus configuration examples (checked
// by promtool in prometheus_test.go) from Kubernetes manifests.
func isPrometheusConfig(path string) bool {
	return filepath.Base(filepath.Dir(path)) == "prometheus" && strings.HasSuffix(path, ".yml")
}

// TestManifestsDecodeStrictly decodes every Kubernetes manifest under
// kubernetes/ and prometheus/ into its typed object (k8s.io/api, the
// prometheus-operator types) with unknown and duplicate fields rejected,
// every kustomization.yaml into kustomize's Kustomization the same way (no
// deprecated fields either), strategic-merge patches too once their $patch
// directives are removed, and validates the web config of every ConfigMap
// with exporter-toolkit. Every file under kubernetes/ must be used by the
// kustomization of its directory.
func TestManifestsDecodeStrictly(t *testing.T) {
	var files []string
	for _, dir := range []string{"kubernetes", "prometheus"} {
		files = append(files, yamlFiles(t, dir)...)
	}
	if len(files) == 0 {
		t.Fatal("no manifests found")
	}

	// What each kustomization references: resources and patches, as paths.
	used := map[string]bool{}
	patches := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			continue
		}
		k, err := decodeKustomization(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		dir := filepath.Dir(f)
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s: resource %s: %v", f, r, err)
				continue
			}
			if !fi.IsDir() {
				used[p] = true
			}
		}
		for _, p := range k.Patches {
			if p.Path == "" {
				t.Errorf("%s: inline patch: keep patches in files, so this test decodes them", f)
				continue
			}
			patches[filepath.Join(dir, p.Path)] = true
		}
	}

	objects := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" || isPrometheusConfig(f) {
			continue
		}
		if strings.HasPrefix(f, "kubernetes"+string(filepath.Separator)) && !used[f] && !patches[f] {
			t.Errorf("%s: not a resource or patch of any kustomization.yaml", f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitYAML(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(docs) == 0 {
			t.Errorf("%s: no document", f)
		}
		for i, doc := range docs {
			if patches[f] {
				if doc, err = stripPatchDirectives(doc); err != nil {
					t.Errorf("%s: document %d: %v", f, i, err)
					continue
				}
			}
			obj, err := decodeObject(doc)
			if err != nil {
				t.Errorf("%s: document %d: %v", f, i, err)
				continue
			}
			objects++
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				checkWebConfig(t, f, o)
			case *monitoringv1.Prometheus:
				checkOperatorPrometheus(t, f, o)
			}
		}
	}
	t.Logf("%d files, %d objects decoded strictly", len(files), objects)
}

// checkWebConfig validates a ConfigMap's web-config.yml as pcp-remote-read
// does at start (exporter-toolkit's web.Validate).
func checkWebConfig(t *testing.T, file string, cm *corev1.ConfigMap) {
	t.Helper()
	content, ok := cm.Data["web-config.yml"]
	if !ok {
		return
	}
	p := filepath.Join(t.TempDir(), "web-config.yml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := web.Validate(p); err != nil {
		t.Errorf("%s: ConfigMap %s: web-config.yml: %v", file, cm.Name, err)
	}
}

// checkOperatorPrometheus checks the remoteRead settings pcp-remote-read
// needs: readRecent (archives cover recent time) and no external-label
// filtering (archive series have none of Prometheus' external labels).
func checkOperatorPrometheus(t *testing.T, file string, p *monitoringv1.Prometheus) {
	t.Helper()
	if len(p.Spec.RemoteRead) == 0 {
		t.Errorf("%s: Prometheus %s has no remoteRead", file, p.Name)
	}
	for _, rr := range p.Spec.RemoteRead {
		if !rr.ReadRecent {
			t.Errorf("%s: remoteRead %s: readRecent must be true", file, rr.URL)
		}
		if rr.FilterExternalLabels == nil || *rr.FilterExternalLabels {
			t.Errorf("%s: remoteRead %s: filterExternalLabels must be false", file, rr.URL)
		}
		if !strings.HasSuffix(string(rr.URL), "/api/v1/read") {
			t.Errorf("%s: remoteRead %s: want the /api/v1/read endpoint", file, rr.URL)
		}
	}
}
