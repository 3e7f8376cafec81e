// Package deployments holds the tests of the deployment files: the
// Kubernetes manifests and kustomize overlays, the Prometheus examples and
// the container image. It is a module of its own so that the Kubernetes
// and kustomize libraries stay out of the main module.
package deployments

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// The kinds the manifests may use. Anything else fails the test: add its
// types here first.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strictDecoder is apimachinery's universal deserializer in strict mode:
// unknown and duplicate fields are errors, field names are case-sensitive,
// and the apiVersion and kind must be registered in scheme.
var strictDecoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeObject decodes one YAML document into its typed Kubernetes object.
func decodeObject(doc []byte) (runtime.Object, error) {
	obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
	if err != nil {
		if gvk != nil {
			return nil, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
		return nil, err
	}
	return obj, nil
}

// splitYAML returns the non-empty documents of a YAML stream.
func splitYAML(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if isEmptyYAML(doc) {
			continue
		}
		docs = append(docs, doc)
	}
}

// isEmptyYAML reports whether a document holds only comments, blank lines
// and separators.
func isEmptyYAML(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

// strictUnmarshal decodes YAML into v with the same rules as strictDecoder
// (case-sensitive, no unknown or duplicate fields), for types that are not
// Kubernetes objects (a Kustomization).
func strictUnmarshal(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// decodeKustomization reads a kustomization.yaml strictly and rejects
// deprecated fields.
func decodeKustomization(path string) (*types.Kustomization, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k types.Kustomization
	if err := strictUnmarshal(data, &k); err != nil {
		return nil, err
	}
	if w := k.CheckDeprecatedFields(); w != nil && len(*w) > 0 {
		return nil, fmt.Errorf("deprecated fields: %s", strings.Join(*w, "; "))
	}
	if k.APIVersion != types.KustomizationVersion || k.Kind != types.KustomizationKind {
		return nil, fmt.Errorf("apiVersion/kind %s/%s, want %s/%s", k.APIVersion, k.Kind, types.KustomizationVersion, types.KustomizationKind)
	}
	return &k, nil
}

// stripPatchDirectives removes the strategic-merge-patch directives
// ($patch, $retainKeys, ...) from a patch, which are not fields of the
// object it patches.
func stripPatchDirectives(doc []byte) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	var strip func(v any) any
	strip = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if strings.HasPrefix(k, "$") {
					delete(v, k)
					continue
				}
				v[k] = strip(e)
			}
		case []any:
			for i, e := range v {
				v[i] = strip(e)
			}
		}
		return v
	}
	return yaml.Marshal(strip(m))
}

// Require skips the test when a tool is missing, or fails it under CI=true,
// as the main module's internal/pcptest.Require does.
func Require(t testing.TB, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true (make deps installs it)", what)
	}
	t.Skipf("%s not available (run make deps)", what)
}

// repoRoot is the main module's root, above deployments/.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod above deployments/: %v", err)
	}
	return root
}

// lookPath finds a tool on $PATH.
func lookPath(name string) (string, bool) {
	p, err := exec.LookPath(name)
	return p, err == nil
}
