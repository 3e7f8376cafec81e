package deployments

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	// The container of pcp-remote-read in every workload, and what it
	// must be configured with.
	appContainer = "pcp-remote-read"
	appPort      = 9201
	archiveDir   = "/var/log/pcp/pmlogger"
	webConfigArg = "--web.config.file="
	cacheDirArg  = "--cache.dir="
	nonRootUID   = 65532
)

// privileged names the containers allowed to run without the strict
// security context, by workload ("Kind/name") and container name, with the
// reason. Anything else must be strict.
var privileged = map[string]map[string]string{
	"DaemonSet/pcp": {
		"pmcd":        "the upstream PCP image runs systemd and reads host metrics",
		"pmlogger":    "the upstream PCP image runs systemd",
		"archive-dir": "chowns the hostPath archive directory for pmlogger (CHOWN only)",
	},
}

// frontends names the workloads that front pcp-remote-read instances
// rather than run one (no pcp-remote-read container), by workload
// ("Kind/name"), with what they are. Their containers are still strict.
var frontends = map[string]string{
	"Deployment/promxy":       "the Prometheus query API over the shards (overlays/sharded)",
	"Deployment/thanos-query": "PromQL over the shards' Thanos sidecars (overlays/thanos)",
}

// built is the output of one kustomize build, decoded.
type built struct {
	dir     string
	objects []runtime.Object
}

func kustomizeBuild(t *testing.T, dir string) *built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := &built{dir: dir}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeObject(y)
		if err != nil {
			t.Errorf("kustomize build %s: %s: %v", dir, r.CurId(), err)
			continue
		}
		b.objects = append(b.objects, obj)
	}
	return b
}

// kustomizations lists the directories holding a kustomization.yaml.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, f := range yamlFiles(t, "kubernetes") {
		if filepath.Base(f) == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	return dirs
}

func objKey(o runtime.Object) string {
	m, _ := o.(metav1.Object)
	return o.GetObjectKind().GroupVersionKind().Kind + "/" + m.GetName()
}

// workload is a Deployment or DaemonSet, reduced to what the checks need.
type workload struct {
	key       string
	namespace string
	selector  *metav1.LabelSelector
	template  corev1.PodTemplateSpec
}

func (b *built) workloads() []workload {
	var ws []workload
	for _, o := range b.objects {
		switch o := o.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{objKey(o), o.Namespace, o.Spec.Selector, o.Spec.Template})
		case *appsv1.DaemonSet:
			ws = append(ws, workload{objKey(o), o.Namespace, o.Spec.Selector, o.Spec.Template})
		case *appsv1.StatefulSet, *corev1.Pod, *appsv1.ReplicaSet:
			panic(fmt.Sprintf("%s: add this kind to workloads()", objKey(o)))
		}
	}
	return ws
}

func (b *built) find(kind, name string) runtime.Object {
	for _, o := range b.objects {
		if objKey(o) == kind+"/"+name {
			return o
		}
	}
	return nil
}

// claim is the build's PersistentVolumeClaim of that name, or nil.
func (b *built) claim(name string) *corev1.PersistentVolumeClaim {
	pvc, _ := b.find("PersistentVolumeClaim", name).(*corev1.PersistentVolumeClaim)
	return pvc
}

func (b *built) names(kind string) []string {
	var n []string
	for _, o := range b.objects {
		if k := objKey(o); strings.HasPrefix(k, kind+"/") {
			n = append(n, strings.TrimPrefix(k, kind+"/"))
		}
	}
	slices.Sort(n)
	return n
}

// TestKustomizeBuild builds every kustomization (base, overlays, shards)
// with kustomize's own library, decodes the output strictly, and checks:
// the security context of every container; pcp-remote-read's probes,
// port, read-only archive mount, web config, cache directory and its
// bound against the cache volume's size; that every ConfigMap,
// claim and ServiceAccount a pod names is in the output; that every
// Service and PodDisruptionBudget selects exactly one workload whose pods
// have the Service's target port; and what each pattern is about.
func TestKustomizeBuild(t *testing.T) {
	dirs := kustomizations(t)
	for _, want := range []string{"kubernetes/base", "kubernetes/overlays/central", "kubernetes/overlays/sidecar", "kubernetes/overlays/sharded", "kubernetes/overlays/thanos"} {
		if !slices.Contains(dirs, filepath.FromSlash(want)) {
			t.Errorf("%s: no kustomization.yaml", want)
		}
	}
	for _, dir := range dirs {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			b := kustomizeBuild(t, dir)
			if len(b.objects) == 0 {
				t.Fatal("empty build")
			}
			checkWorkloads(t, b)
			checkReferences(t, b)
			checkSelectors(t, b)
			if check := patternChecks[filepath.ToSlash(dir)]; check != nil {
				check(t, b)
			}
		})
	}
}

func checkWorkloads(t *testing.T, b *built) {
	t.Helper()
	for _, w := range b.workloads() {
		pod := w.template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false (nothing here calls the API)", w.key)
		}
		if sp := pod.SecurityContext; sp == nil || sp.SeccompProfile == nil || sp.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext.seccompProfile must be RuntimeDefault", w.key)
		}
		all := append(slices.Clone(pod.InitContainers), pod.Containers...)
		for _, c := range all {
			name := w.key + " container " + c.Name
			if reason, ok := privileged[w.key][c.Name]; ok {
				t.Logf("%s: not strict: %s", name, reason)
				sc := c.SecurityContext
				if sc == nil || (sc.Privileged == nil || !*sc.Privileged) && (sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"})) {
					t.Errorf("%s: an unprivileged exception must still drop ALL capabilities", name)
				}
				continue
			}
			checkStrict(t, name, pod.SecurityContext, c.SecurityContext)
			checkResources(t, name, c.Resources)
		}
		apps := 0
		for _, c := range pod.Containers {
			if c.Name == appContainer {
				apps++
				checkApp(t, w, c)
				for _, p := range cacheBoundProblems(pod, c, b.claim) {
					t.Errorf("%s container %s: %s", w.key, c.Name, p)
				}
			}
		}
		_, frontend := frontends[w.key]
		if apps == 0 && !frontend {
			t.Errorf("%s: no %s container", w.key, appContainer)
		}
		if apps > 0 && frontend {
			t.Errorf("%s: a front end, yet runs %s", w.key, appContainer)
		}
	}
}

// checkStrict requires the restricted Pod Security Standard and more:
// non-root, read-only root filesystem, no privilege escalation, no
// capabilities, RuntimeDefault seccomp (in the container or from the pod).
func checkStrict(t *testing.T, name string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if c == nil {
		t.Errorf("%s: no securityContext", name)
		return
	}
	nonRoot := c.RunAsNonRoot != nil && *c.RunAsNonRoot || c.RunAsNonRoot == nil && pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot must be true", name)
	}
	if c.RunAsUser != nil && *c.RunAsUser == 0 {
		t.Errorf("%s: runAsUser 0", name)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem must be true", name)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", name)
	}
	if c.Privileged != nil && *c.Privileged {
		t.Errorf("%s: privileged", name)
	}
	if c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", name)
	}
	sp := c.SeccompProfile
	if sp == nil && pod != nil {
		sp = pod.SeccompProfile
	}
	if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile must be RuntimeDefault", name)
	}
}

func checkResources(t *testing.T, name string, r corev1.ResourceRequirements) {
	t.Helper()
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := r.Requests[res]; !ok {
			t.Errorf("%s: no %s request", name, res)
		}
	}
	lim, ok := r.Limits[corev1.ResourceMemory]
	if !ok {
		t.Errorf("%s: no memory limit", name)
	} else if req := r.Requests[corev1.ResourceMemory]; lim.Cmp(req) < 0 {
		t.Errorf("%s: memory limit %s below the request %s", name, lim.String(), req.String())
	}
}

// checkApp checks the pcp-remote-read container.
func checkApp(t *testing.T, w workload, c corev1.Container) {
	t.Helper()
	name := w.key + " container " + c.Name
	pod := w.template.Spec
	if c.SecurityContext == nil || c.SecurityContext.RunAsUser == nil || *c.SecurityContext.RunAsUser != nonRootUID {
		t.Errorf("%s: runAsUser must be %d (the image's user)", name, nonRootUID)
	}
	if !strings.HasPrefix(c.Image, "pcp-remote-read") {
		t.Errorf("%s: image %q, want the pcp-remote-read image (kustomize images: renames it)", name, c.Image)
	}
	port := -1
	for _, p := range c.Ports {
		if p.Name == "http" {
			port = int(p.ContainerPort)
		}
	}
	if port != appPort {
		t.Errorf("%s: port http is %d, want %d", name, port, appPort)
	}
	probe := func(kind string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", name, kind)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s: %s probe %s on %s, want %s on http", name, kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/-/ready")
	probe("liveness", c.LivenessProbe, "/-/healthy")

	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if m, ok := mounts[archiveDir]; !ok || !m.ReadOnly {
		t.Errorf("%s: %s must be mounted read-only", name, archiveDir)
	}
	if !slices.Contains(c.Args, archiveDir) {
		t.Errorf("%s: args %v do not name %s", name, c.Args, archiveDir)
	}
	for _, p := range cacheDirProblems(pod, c) {
		t.Errorf("%s: %s", name, p)
	}
	// --web.config.file must be a key of a mounted ConfigMap.
	var webConfig string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, webConfigArg); ok {
			webConfig = v
		}
	}
	if webConfig == "" {
		t.Errorf("%s: no %s", name, webConfigArg)
		return
	}
	m, ok := mounts[filepath.Dir(webConfig)]
	if !ok {
		t.Errorf("%s: %s is not in a mounted volume", name, webConfig)
		return
	}
	for _, v := range pod.Volumes {
		if v.Name == m.Name && v.ConfigMap == nil {
			t.Errorf("%s: %s: volume %s is not a ConfigMap", name, webConfig, v.Name)
		}
	}
}

// cacheDirProblems checks where pcp-remote-read writes its column tables:
// the root filesystem is read-only, so --cache.dir must name a directory on
// a writable volume (emptyDir with a sizeLimit, a claim or a generic
// ephemeral volume, mounted read-write), and it must lie outside the archives (the server
// never writes there, and tables beside archives would be scanned as
// archive files). The image's default, ~/.cache, is on the root filesystem:
// the flag must be given.
func cacheDirProblems(pod corev1.PodSpec, c corev1.Container) []string {
	var dirs []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, cacheDirArg); ok {
			dirs = append(dirs, v)
		}
	}
	if len(dirs) != 1 {
		return []string{fmt.Sprintf("want one %s arg (the default lies on the read-only root filesystem), got %q", cacheDirArg, dirs)}
	}
	dir := filepath.Clean(dirs[0])
	if !filepath.IsAbs(dir) {
		return []string{fmt.Sprintf("%s%s is not an absolute path", cacheDirArg, dirs[0])}
	}
	var problems []string
	if within(dir, archiveDir) || within(archiveDir, dir) {
		problems = append(problems, fmt.Sprintf("%s%s overlaps the archive mount %s", cacheDirArg, dir, archiveDir))
	}
	m := mountOf(c, dir)
	if m == nil {
		return append(problems, fmt.Sprintf("%s%s is on no mounted volume (the root filesystem is read-only)", cacheDirArg, dir))
	}
	if m.ReadOnly {
		problems = append(problems, fmt.Sprintf("%s%s: volume %s is mounted read-only", cacheDirArg, dir, m.Name))
	}
	var v *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == m.Name {
			v = &pod.Volumes[i]
		}
	}
	switch {
	case v == nil:
		problems = append(problems, fmt.Sprintf("%s%s: no volume %s", cacheDirArg, dir, m.Name))
	case v.EmptyDir != nil:
		// The kubelet's sizeLimit is what protects the node's disk: the
		// server's own bound (--cache.dir-size, cacheBoundProblems) is
		// passed by about a table per builder, and a wrong flag has none.
		if v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.IsZero() {
			problems = append(problems, fmt.Sprintf("%s%s: emptyDir %s has no sizeLimit", cacheDirArg, dir, m.Name))
		}
	case v.Ephemeral != nil:
	case v.PersistentVolumeClaim != nil:
		if v.PersistentVolumeClaim.ReadOnly {
			problems = append(problems, fmt.Sprintf("%s%s: claim %s is read-only", cacheDirArg, dir, v.PersistentVolumeClaim.ClaimName))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s%s: volume %s is not writable storage (emptyDir, ephemeral or a claim)", cacheDirArg, dir, m.Name))
	}
	return problems
}

// The flags that bound what the column tables take (README "Column
// tables"), and what the cache volume must hold beyond that bound.
const (
	cacheDirSizeArg   = "--cache.dir-size="
	cacheBuildCPUsArg = "--cache.build-cpus="
	// The bound may take at most 4/5 of the cache volume's size: the
	// server checks it only once a table is written in full, a build
	// writes under a temporary name first, and the prefix tables of the
	// hosts' newest archives are never removed.
	cacheBoundNum, cacheBoundDen = 4, 5
	// Room below the volume's size per builder (--cache.build-cpus), for
	// the table it is writing: a day's table is at most a few hundred MiB.
	tableInFlight = 512 << 20
)

// cacheBoundProblems checks pcp-remote-read's bound on its column tables:
// one --cache.dir-size, positive (0 is no bound, and the default, 10GiB,
// knows nothing of the volume) and at most 4/5 of the size of the volume
// holding --cache.dir (an emptyDir's sizeLimit, past which the kubelet
// evicts the pod; a claim's or an ephemeral volume's storage request),
// leaving a table's room per builder; and one --cache.build-cpus, a
// positive integer no more than the CPU limit in whole cores, rounded up
// (each builder takes up to one CPU). claim finds a claim of the build by
// name. Where --cache.dir itself is wrong, cacheDirProblems says so and
// the volume is not checked here.
func cacheBoundProblems(pod corev1.PodSpec, c corev1.Container, claim func(string) *corev1.PersistentVolumeClaim) []string {
	var problems []string
	bound, boundArg := int64(-1), ""
	switch sizes := flagValues(c.Args, cacheDirSizeArg); {
	case len(sizes) != 1:
		problems = append(problems, fmt.Sprintf("want one %s arg (the default, 10GiB, knows nothing of the cache volume), got %q", cacheDirSizeArg, sizes))
	default:
		boundArg = cacheDirSizeArg + sizes[0]
		n, err := parseSize(sizes[0])
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", boundArg, err))
		case n == 0:
			problems = append(problems, fmt.Sprintf("%s is no bound: the tables would grow to the volume's limit", boundArg))
		default:
			bound = n
		}
	}
	builders := -1
	switch cpus := flagValues(c.Args, cacheBuildCPUsArg); {
	case len(cpus) != 1:
		problems = append(problems, fmt.Sprintf("want one %s arg, got %q", cacheBuildCPUsArg, cpus))
	default:
		n, err := strconv.Atoi(cpus[0])
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("%s%s is not a positive integer", cacheBuildCPUsArg, cpus[0]))
			break
		}
		builders = n
		if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			if cores := (lim.MilliValue() + 999) / 1000; int64(n) > cores {
				problems = append(problems, fmt.Sprintf("%s%d: each builder takes up to a CPU: more than the CPU limit %s (%d cores, rounded up)", cacheBuildCPUsArg, n, lim.String(), cores))
			}
		}
	}

	dirs := flagValues(c.Args, cacheDirArg)
	if len(dirs) != 1 || !filepath.IsAbs(dirs[0]) {
		return problems
	}
	m := mountOf(c, filepath.Clean(dirs[0]))
	if m == nil {
		return problems
	}
	v := volume(pod, m.Name)
	if v == nil {
		return problems
	}
	var size *resource.Quantity
	var what string
	switch {
	case v.EmptyDir != nil:
		size, what = v.EmptyDir.SizeLimit, "emptyDir "+v.Name+" sizeLimit"
	case v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil:
		if q, ok := v.Ephemeral.VolumeClaimTemplate.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			size, what = &q, "ephemeral volume "+v.Name+" storage request"
		}
	case v.PersistentVolumeClaim != nil:
		if pvc := claim(v.PersistentVolumeClaim.ClaimName); pvc != nil {
			if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
				size, what = &q, "claim "+pvc.Name+" storage request"
			}
		}
	}
	if size == nil || size.IsZero() {
		if v.Ephemeral != nil || v.PersistentVolumeClaim != nil {
			problems = append(problems, fmt.Sprintf("%s%s: volume %s has no storage request to check %s against", cacheDirArg, dirs[0], v.Name, cacheDirSizeArg))
		}
		return problems // an emptyDir without sizeLimit: cacheDirProblems
	}
	if bound < 0 {
		return problems
	}
	limit := size.Value()
	if most := limit / cacheBoundDen * cacheBoundNum; bound > most {
		problems = append(problems, fmt.Sprintf("%s (%d bytes) is more than %d/%d of the %s %s (%d bytes): "+
			"the tables pass the bound by a table or two before it removes any", boundArg, bound,
			cacheBoundNum, cacheBoundDen, what, size.String(), most))
	}
	if room := limit - bound; builders > 0 && room < int64(builders)*tableInFlight {
		problems = append(problems, fmt.Sprintf("%s leaves %d MiB of the %s %s, less than %d MiB for each of the %d builders' tables in flight",
			boundArg, max(room, 0)>>20, what, size.String(), tableInFlight>>20, builders))
	}
	return problems
}

// parseSize reads a size as the server's --cache.dir-size does (plain
// bytes, or a whole number with a base-2 unit: KiB and KB both mean 1024),
// though not every form the server takes (no fractions, no sums such as
// 1GiB512MiB). Kubernetes' spellings, Gi or G, are not the server's.
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		hint := ""
		if k8sSize.MatchString(s) {
			hint = " (Gi, G: Kubernetes' spelling, the server's is GiB)"
		}
		return 0, fmt.Errorf("not a size: want bytes with a unit (KiB, MiB, GiB, TiB) or plain bytes%s", hint)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size: %v", err)
	}
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50}[strings.TrimSuffix(strings.TrimSuffix(m[2], "B"), "i")]
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%s: too large", s)
	}
	return n << shift, nil
}

var (
	sizeRE  = regexp.MustCompile(`^([0-9]+)(B|[KMGTP]i?B)?$`)
	k8sSize = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?[KMGTPE]i?$`)
)

// mountOf is the mount of c that holds path: the deepest mount point at or
// above it.
func mountOf(c corev1.Container, path string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if within(path, filepath.Clean(m.MountPath)) && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = m
		}
	}
	return best
}

// within reports whether path is dir or lies below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// checkReferences: what pods name exists in the same build.
func checkReferences(t *testing.T, b *built) {
	t.Helper()
	for _, w := range b.workloads() {
		pod := w.template.Spec
		if sa := pod.ServiceAccountName; sa != "" && b.find("ServiceAccount", sa) == nil {
			t.Errorf("%s: ServiceAccount %s not in the build", w.key, sa)
		}
		for _, v := range pod.Volumes {
			switch {
			case v.ConfigMap != nil:
				if b.find("ConfigMap", v.ConfigMap.Name) == nil {
					t.Errorf("%s: volume %s: ConfigMap %s not in the build", w.key, v.Name, v.ConfigMap.Name)
				}
			case v.PersistentVolumeClaim != nil:
				o := b.find("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName)
				if o == nil {
					t.Errorf("%s: volume %s: claim %s not in the build", w.key, v.Name, v.PersistentVolumeClaim.ClaimName)
					continue
				}
				pvc := o.(*corev1.PersistentVolumeClaim)
				if !mountsAt(pod, v.Name, archiveDir) {
					// A claim for column tables: written (cacheDirProblems).
					if slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}) {
						t.Errorf("%s: volume %s: claim %s is ReadOnlyMany, and not for archives", w.key, v.Name, pvc.Name)
					}
				} else if !v.PersistentVolumeClaim.ReadOnly || !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}) {
					t.Errorf("%s: volume %s: archives are read-only: want readOnly and ReadOnlyMany", w.key, v.Name)
				}
			}
		}
		// Every volume mount names a volume of the pod.
		vols := map[string]bool{}
		for _, v := range pod.Volumes {
			vols[v.Name] = true
		}
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					t.Errorf("%s container %s: mount of unknown volume %s", w.key, c.Name, m.Name)
				}
			}
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: selector %v does not select its own pods %v (%v)", w.key, w.selector, w.template.Labels, err)
		}
	}
}

// mountsAt reports whether a container of the pod mounts volume name at path.
func mountsAt(pod corev1.PodSpec, name, path string) bool {
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.Name == name && filepath.Clean(m.MountPath) == path {
				return true
			}
		}
	}
	return false
}

// checkSelectors: every Service and PodDisruptionBudget selects the pods
// of exactly one workload, and a Service's target port is a port of them.
func checkSelectors(t *testing.T, b *built) {
	t.Helper()
	ws := b.workloads()
	selected := func(key string, sel labels.Selector) []workload {
		var out []workload
		for _, w := range ws {
			if sel.Matches(labels.Set(w.template.Labels)) {
				out = append(out, w)
			}
		}
		if len(out) != 1 {
			var names []string
			for _, w := range out {
				names = append(names, w.key)
			}
			t.Errorf("%s selects %d workloads %v, want exactly one", key, len(out), names)
		}
		return out
	}
	for _, o := range b.objects {
		switch o := o.(type) {
		case *corev1.Service:
			if len(o.Spec.Selector) == 0 {
				t.Errorf("%s: no selector", objKey(o))
				continue
			}
			for _, w := range selected(objKey(o), labels.SelectorFromSet(o.Spec.Selector)) {
				for _, sp := range o.Spec.Ports {
					if !hasPort(w.template.Spec, sp.TargetPort) {
						t.Errorf("%s: port %s: target %s is no port of %s", objKey(o), sp.Name, sp.TargetPort.String(), w.key)
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
			if err != nil {
				t.Errorf("%s: %v", objKey(o), err)
				continue
			}
			selected(objKey(o), sel)
		}
	}
}

func hasPort(pod corev1.PodSpec, p intstr.IntOrString) bool {
	for _, c := range pod.Containers {
		for _, cp := range c.Ports {
			if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
				return true
			}
		}
	}
	return false
}

// patternChecks hold what each pattern is about, by kustomization dir.
var patternChecks = map[string]func(*testing.T, *built){
	"kubernetes/base": func(t *testing.T, b *built) {
		if got := b.names("Deployment"); !slices.Equal(got, []string{"pcp-remote-read"}) {
			t.Errorf("Deployments %v", got)
		}
		for _, kind := range []string{"Service", "ServiceAccount", "ConfigMap"} {
			if b.find(kind, "pcp-remote-read") == nil && b.find(kind, "pcp-remote-read-web") == nil {
				t.Errorf("no %s", kind)
			}
		}
	},
	"kubernetes/overlays/central": func(t *testing.T, b *built) {
		checkNamespace(t, b, "pcp")
		d, _ := b.find("Deployment", "pcp-remote-read").(*appsv1.Deployment)
		if d == nil {
			t.Fatal("no Deployment pcp-remote-read")
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("replicas %v, want 2 or more behind the Service", d.Spec.Replicas)
		}
		if v := archiveVolume(t, d.Spec.Template.Spec); v != nil && (v.PersistentVolumeClaim == nil || v.EmptyDir != nil) {
			t.Errorf("archive volume %+v, want only the claim", v.VolumeSource)
		}
	},
	"kubernetes/overlays/sidecar": func(t *testing.T, b *built) {
		checkNamespace(t, b, "pcp")
		if got := b.names("Deployment"); len(got) != 0 {
			t.Errorf("Deployments %v left: the DaemonSet replaces the base's", got)
		}
		ds, _ := b.find("DaemonSet", "pcp").(*appsv1.DaemonSet)
		if ds == nil {
			t.Fatal("no DaemonSet pcp")
		}
		pod := ds.Spec.Template.Spec
		var names []string
		for _, c := range pod.Containers {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, []string{"pmcd", "pmlogger", appContainer}) {
			t.Errorf("containers %v, want pmcd, pmlogger, %s", names, appContainer)
		}
		if !pod.HostNetwork {
			t.Error("hostNetwork: archives are named by the pod's hostname, which must be the node's")
		}
		v := archiveVolume(t, pod)
		if v != nil && v.HostPath == nil {
			t.Errorf("archive volume %+v, want the node's directory (hostPath)", v.VolumeSource)
		}
		// pmlogger writes the shared volume, pcp-remote-read only reads it.
		for _, c := range pod.Containers {
			for _, m := range c.VolumeMounts {
				if v != nil && m.Name == v.Name {
					if m.MountPath != archiveDir {
						t.Errorf("%s mounts the archives at %s", c.Name, m.MountPath)
					}
					if want := c.Name != "pmlogger"; m.ReadOnly != want {
						t.Errorf("%s: archives readOnly=%v, want %v", c.Name, m.ReadOnly, want)
					}
				}
			}
		}
		if s, _ := b.find("Service", "pcp-remote-read").(*corev1.Service); s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Error("Service pcp-remote-read must be headless: each pod serves its own node")
		}
	},
	"kubernetes/overlays/sharded": func(t *testing.T, b *built) {
		checkNamespace(t, b, "pcp")
		shards := []string{"shard-a", "shard-b"}
		for _, s := range shards {
			d, _ := b.find("Deployment", "pcp-remote-read-"+s).(*appsv1.Deployment)
			if d == nil {
				t.Errorf("no Deployment pcp-remote-read-%s", s)
				continue
			}
			v := archiveVolume(t, d.Spec.Template.Spec)
			if v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "pcp-archives-"+s {
				t.Errorf("%s: archive volume is not the claim pcp-archives-%s", s, s)
			}
			pvc, _ := b.find("PersistentVolumeClaim", "pcp-archives-"+s).(*corev1.PersistentVolumeClaim)
			if pvc == nil || pvc.Spec.Selector == nil || pvc.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != s {
				t.Errorf("claim pcp-archives-%s must select the PersistentVolume of %s", s, s)
			}
		}
		// promxy: one server_group per shard Service, on its port.
		cm, _ := b.find("ConfigMap", "promxy").(*corev1.ConfigMap)
		if cm == nil {
			t.Fatal("no ConfigMap promxy")
		}
		var cfg struct {
			Promxy struct {
				ServerGroups []struct {
					Name          string `json:"name"`
					StaticConfigs []struct {
						Targets []string `json:"targets"`
					} `json:"static_configs"`
					RemoteRead     bool   `json:"remote_read"`
					RemoteReadPath string `json:"remote_read_path"`
				} `json:"server_groups"`
			} `json:"promxy"`
		}
		// Not strict: only the fields checked here are modelled.
		if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
			t.Fatalf("promxy config.yaml: %v", err)
		}
		var targets []string
		for _, g := range cfg.Promxy.ServerGroups {
			var gt []string
			for _, sc := range g.StaticConfigs {
				gt = append(gt, sc.Targets...)
			}
			if len(gt) != 1 {
				t.Errorf("promxy server_group %s: targets %v, want one shard Service per group", g.Name, gt)
			}
			if g.RemoteRead && g.RemoteReadPath != "api/v1/read" {
				t.Errorf("promxy server_group %s: remote_read_path %q", g.Name, g.RemoteReadPath)
			}
			targets = append(targets, gt...)
		}
		var want []string
		for _, s := range shards {
			want = append(want, fmt.Sprintf("pcp-remote-read-%s:%d", s, appPort))
		}
		if !slices.Equal(targets, want) {
			t.Errorf("promxy targets %v, want %v", targets, want)
		}
		for _, s := range shards {
			if svc := b.find("Service", "pcp-remote-read-"+s); svc == nil {
				t.Errorf("no Service pcp-remote-read-%s", s)
			}
		}
	},
	"kubernetes/overlays/thanos": checkThanos,
}

// The Thanos overlay: the sidecar in each shard pod, thanos query over them.
const (
	sidecarContainer  = "thanos-sidecar"
	queryWorkload     = "Deployment/thanos-query"
	queryContainer    = "thanos-query"
	externalLabelArg  = "--labels.external="
	shardLabel        = "shard"
	thanosImageRepo   = "quay.io/thanos/thanos"
	promURLArg        = "--prometheus.url="
	httpClientFileArg = "--prometheus.http-client-file="
	httpClientArg     = "--prometheus.http-client="
)

// releaseTag is what a Thanos image must be pinned to: a release, not
// latest or a moving major.
var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// checkThanos: every pcp-remote-read instance is a shard with its own
// external label and a thanos sidecar in its pod that reaches it on the
// loopback as its web config serves, every shard Service exposes the
// sidecar's StoreAPI, and thanos query names exactly those Services.
func checkThanos(t *testing.T, b *built) {
	checkNamespace(t, b, "pcp")
	// The shards serve as central does: their args are central's plus the
	// external label (a patch replaces args whole, so they are repeated).
	central, _ := kustomizeBuild(t, filepath.FromSlash("kubernetes/overlays/central")).find("Deployment", "pcp-remote-read").(*appsv1.Deployment)
	if central == nil {
		t.Fatal("overlays/central: no Deployment pcp-remote-read")
	}
	var centralArgs []string
	for _, c := range central.Spec.Template.Spec.Containers {
		if c.Name == appContainer {
			centralArgs = c.Args
		}
	}

	shardOf := map[string]string{} // external label value: workload
	var wantEndpoints []string
	var versions []string
	for _, w := range b.workloads() {
		pod := w.template.Spec
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			repo, tag := splitImage(c.Image)
			if path.Base(repo) != "thanos" && c.Name != sidecarContainer && c.Name != queryContainer {
				continue
			}
			if repo != thanosImageRepo {
				t.Logf("%s container %s: image %s, not %s (renamed?)", w.key, c.Name, c.Image, thanosImageRepo)
			}
			if !releaseTag.MatchString(tag) {
				t.Errorf("%s container %s: image %s: pin a release tag (vX.Y.Z), not %q", w.key, c.Name, c.Image, tag)
			}
			if !slices.Contains(versions, tag) {
				versions = append(versions, tag)
			}
		}
		if w.key == queryWorkload {
			continue
		}
		app, sidecar := container(pod, appContainer), container(pod, sidecarContainer)
		if app == nil {
			t.Errorf("%s: no %s container", w.key, appContainer)
			continue
		}
		// Exactly one external label, shard=X, X unique across shards.
		var ext []string
		var rest []string
		for _, a := range app.Args {
			if v, ok := strings.CutPrefix(a, externalLabelArg); ok {
				ext = append(ext, v)
			} else {
				rest = append(rest, a)
			}
		}
		name, value, _ := strings.Cut(strings.Join(ext, ","), "=")
		if len(ext) != 1 || name != shardLabel || value == "" {
			t.Errorf("%s: external labels %q, want one %s%s=<shard>", w.key, ext, externalLabelArg, shardLabel)
		} else if other, dup := shardOf[value]; dup {
			t.Errorf("%s and %s both have %s=%s: thanos query tells stores apart by their external labels", other, w.key, shardLabel, value)
		} else {
			shardOf[value] = w.key
		}
		if !slices.Equal(rest, centralArgs) {
			t.Errorf("%s: args besides %s%s %q, want central's %q", w.key, externalLabelArg, shardLabel, rest, centralArgs)
		}

		if sidecar == nil {
			t.Errorf("%s: no %s container", w.key, sidecarContainer)
			continue
		}
		name = w.key + " container " + sidecarContainer
		if len(sidecar.Args) == 0 || sidecar.Args[0] != "sidecar" {
			t.Errorf("%s: args %q, want the sidecar command first", name, sidecar.Args)
		}
		grpcPort := checkThanosListeners(t, name, *sidecar)
		for _, a := range sidecar.Args {
			if strings.HasPrefix(a, "--objstore.config") {
				t.Errorf("%s: %s: nothing is uploaded, the archives are the store", name, a)
			}
		}
		// --tsdb.path: the sidecar wants a directory; on an emptyDir (the
		// root filesystem is read-only).
		tsdb := flagValues(sidecar.Args, "--tsdb.path=")
		if len(tsdb) != 1 {
			t.Errorf("%s: --tsdb.path %q, want one", name, tsdb)
		} else if m := mountOf(*sidecar, filepath.Clean(tsdb[0])); m == nil || m.ReadOnly {
			t.Errorf("%s: --tsdb.path=%s is on no writable mount", name, tsdb[0])
		} else if v := volume(pod, m.Name); v == nil || v.EmptyDir == nil {
			t.Errorf("%s: --tsdb.path=%s: volume %s is not an emptyDir", name, tsdb[0], m.Name)
		}

		// How the sidecar reaches pcp-remote-read, against how it serves.
		webConfig, err := b.configMapFile(pod, *app, flagValues(app.Args, webConfigArg)...)
		if err != nil {
			t.Errorf("%s container %s: %v", w.key, appContainer, err)
		}
		var client string
		if len(flagValues(sidecar.Args, httpClientFileArg)) > 0 && len(flagValues(sidecar.Args, httpClientArg)) > 0 {
			t.Errorf("%s: both %s and %s: the sidecar refuses to start", name, httpClientFileArg, httpClientArg)
		}
		if files := flagValues(sidecar.Args, httpClientFileArg); len(files) > 0 {
			if client, err = b.configMapFile(pod, *sidecar, files...); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		} else if inline := flagValues(sidecar.Args, httpClientArg); len(inline) == 1 {
			client = inline[0]
		}
		urls := flagValues(sidecar.Args, promURLArg)
		if len(urls) != 1 {
			t.Errorf("%s: %s %q, want one", name, promURLArg, urls)
		} else {
			for _, p := range sidecarClientProblems(webConfig, client, urls[0], *sidecar, containerPort(*app, intstr.FromString("http"))) {
				t.Errorf("%s: %s", name, p)
			}
		}

		// The shard's Service exposes the sidecar's StoreAPI: that is
		// thanos query's endpoint for this shard.
		var svcs []string
		for _, o := range b.objects {
			svc, ok := o.(*corev1.Service)
			if !ok || len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
				continue
			}
			svcs = append(svcs, svc.Name)
			var ports []string
			for _, sp := range svc.Spec.Ports {
				if grpcPort > 0 && containerPort(*sidecar, sp.TargetPort) == grpcPort {
					ports = append(ports, fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, sp.Port))
				}
			}
			if len(ports) != 1 {
				t.Errorf("Service %s: ports to the sidecar's gRPC port %d: %v, want one", svc.Name, grpcPort, ports)
			}
			wantEndpoints = append(wantEndpoints, ports...)
		}
		if len(svcs) != 1 {
			t.Errorf("%s: Services %v select its pods, want one", w.key, svcs)
		}
	}
	if len(shardOf) < 2 {
		t.Errorf("shards %v, want two or more", shardOf)
	}
	if len(versions) != 1 {
		t.Errorf("Thanos versions %q: want one, the same in the sidecars and thanos query", versions)
	}

	// thanos query: one --endpoint per shard Service's gRPC port.
	var query *workload
	for _, w := range b.workloads() {
		if w.key == queryWorkload {
			query = &w
		}
	}
	if query == nil {
		t.Fatalf("no %s", queryWorkload)
	}
	q := container(query.template.Spec, queryContainer)
	if q == nil {
		t.Fatalf("%s: no container %s", queryWorkload, queryContainer)
	}
	name := queryWorkload + " container " + queryContainer
	if len(q.Args) == 0 || q.Args[0] != "query" {
		t.Errorf("%s: args %q, want the query command first", name, q.Args)
	}
	checkThanosListeners(t, name, *q)
	endpoints := flagValues(q.Args, "--endpoint=")
	slices.Sort(endpoints)
	slices.Sort(wantEndpoints)
	if len(wantEndpoints) == 0 || !slices.Equal(endpoints, wantEndpoints) {
		t.Errorf("%s: --endpoint %q, want the shard Services' gRPC ports %q", name, endpoints, wantEndpoints)
	}
	// Grafana's URL: the query Service's http port.
	svc, _ := b.find("Service", "thanos-query").(*corev1.Service)
	if svc == nil {
		t.Fatal("no Service thanos-query")
	}
	http := containerPort(*q, intstr.FromString("http"))
	found := false
	for _, sp := range svc.Spec.Ports {
		found = found || sp.Name == "http" && containerPort(*q, sp.TargetPort) == http && http > 0
	}
	if !found {
		t.Errorf("Service thanos-query: no port http to the container's HTTP port %d", http)
	}
}

// checkThanosListeners checks a thanos container's --grpc-address and
// --http-address against its ports, and its probes: readiness /-/ready and
// liveness /-/healthy on the HTTP port. It returns the gRPC port.
func checkThanosListeners(t *testing.T, name string, c corev1.Container) int32 {
	t.Helper()
	listen := func(flag string) int32 {
		v := flagValues(c.Args, flag)
		if len(v) != 1 {
			t.Errorf("%s: %s %q, want one", name, flag, v)
			return 0
		}
		_, port, err := net.SplitHostPort(v[0])
		n, _ := strconv.Atoi(port)
		if err != nil || n == 0 || containerPort(c, intstr.FromInt32(int32(n))) == 0 {
			t.Errorf("%s: %s%s: not a port of the container (%v)", name, flag, v[0], err)
			return 0
		}
		return int32(n)
	}
	grpc, http := listen("--grpc-address="), listen("--http-address=")
	probe := func(kind string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", name, kind)
		} else if p.HTTPGet.Path != path || http == 0 || containerPort(c, p.HTTPGet.Port) != http {
			t.Errorf("%s: %s probe %s on %s, want %s on %d", name, kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, http)
		}
	}
	probe("readiness", c.ReadinessProbe, "/-/ready")
	probe("liveness", c.LivenessProbe, "/-/healthy")
	return grpc
}

// splitImage splits an image reference into its repository and tag (""
// without one; a digest after the tag is dropped).
func splitImage(image string) (repo, tag string) {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:]
	}
	return image, ""
}

// flagValues are the values of every arg beginning with prefix ("--x=").
func flagValues(args []string, prefix string) []string {
	var v []string
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, prefix); ok {
			v = append(v, s)
		}
	}
	return v
}

func container(pod corev1.PodSpec, name string) *corev1.Container {
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			return &pod.Containers[i]
		}
	}
	return nil
}

func volume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// containerPort resolves a port of c, by name or number: 0 if c has none.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// configMapFile is the content of the file at path in container c, which
// must come from a ConfigMap of the build mounted there (exactly one path).
func (b *built) configMapFile(pod corev1.PodSpec, c corev1.Container, paths ...string) (string, error) {
	if len(paths) != 1 {
		return "", fmt.Errorf("want one file, got %q", paths)
	}
	path := filepath.Clean(paths[0])
	m := mountOf(c, path)
	if m == nil {
		return "", fmt.Errorf("%s is on no mounted volume", path)
	}
	v := volume(pod, m.Name)
	if v == nil || v.ConfigMap == nil {
		return "", fmt.Errorf("%s: volume %s is not a ConfigMap", path, m.Name)
	}
	key, _ := filepath.Rel(filepath.Join(filepath.Clean(m.MountPath), m.SubPath), path)
	for _, it := range v.ConfigMap.Items {
		if filepath.Clean(it.Path) == key {
			key = it.Key
			break
		}
	}
	cm, _ := b.find("ConfigMap", v.ConfigMap.Name).(*corev1.ConfigMap)
	if cm == nil {
		return "", fmt.Errorf("%s: ConfigMap %s not in the build", path, v.ConfigMap.Name)
	}
	data, ok := cm.Data[key]
	if !ok {
		return "", fmt.Errorf("%s: ConfigMap %s has no key %s", path, cm.Name, key)
	}
	return data, nil
}

// webServerConfig is what of pcp-remote-read's --web.config.file
// (exporter-toolkit's web.Config) decides how a client must connect. Not
// strict: checkWebConfig validates the whole file with exporter-toolkit.
type webServerConfig struct {
	TLS struct {
		CertFile       string `json:"cert_file"`
		Cert           string `json:"cert"`
		KeyFile        string `json:"key_file"`
		Key            string `json:"key"`
		ClientCAFile   string `json:"client_ca_file"`
		ClientCA       string `json:"client_ca"`
		ClientAuthType string `json:"client_auth_type"`
	} `json:"tls_server_config"`
	Users map[string]string `json:"basic_auth_users"`
}

// tlsEnabled is exporter-toolkit's TLSConfig.IsEnabled: any of these set
// makes the server serve TLS only.
func (c webServerConfig) tlsEnabled() bool {
	t := c.TLS
	return t.CertFile != "" || t.Cert != "" || t.KeyFile != "" || t.Key != "" ||
		t.ClientCAFile != "" || t.ClientCA != "" || t.ClientAuthType != ""
}

// thanosHTTPClient is Thanos' HTTP client config (pkg/clientconfig
// HTTPClientConfig), the format of the sidecar's
// --prometheus.http-client(-file). Decoded strictly: Thanos ignores
// unknown keys, so a misspelt tls_config would silently do nothing.
type thanosHTTPClient struct {
	BasicAuth struct {
		Username     string `json:"username"`
		Password     string `json:"password"`
		PasswordFile string `json:"password_file"`
	} `json:"basic_auth"`
	BearerToken     string `json:"bearer_token"`
	BearerTokenFile string `json:"bearer_token_file"`
	ProxyURL        string `json:"proxy_url"`
	TLSConfig       struct {
		CAFile             string `json:"ca_file"`
		CertFile           string `json:"cert_file"`
		KeyFile            string `json:"key_file"`
		ServerName         string `json:"server_name"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	} `json:"tls_config"`
	TransportConfig map[string]any `json:"transport_config"`
}

// sidecarClientProblems checks that a thanos sidecar reaches the
// pcp-remote-read of its pod as that serves: on the loopback at the app's
// port (promURL, --prometheus.url), over TLS exactly when the web config
// (webConfig, --web.config.file) serves TLS, with what the client config
// (client, --prometheus.http-client-file) needs for it: a CA to verify
// the certificate and the name it holds (the Service's, not 127.0.0.1),
// a client certificate if the server requires one, and the credentials of
// one of the basic-auth users if the server has any. The files the client
// config names must be mounted in the sidecar container.
func sidecarClientProblems(webConfig, client, promURL string, sidecar corev1.Container, appPort int32) []string {
	var problems []string
	var web webServerConfig
	if err := yaml.Unmarshal([]byte(webConfig), &web); err != nil {
		return []string{fmt.Sprintf("web config: %v", err)}
	}
	var cc thanosHTTPClient
	if err := strictUnmarshal([]byte(client), &cc); err != nil {
		return []string{fmt.Sprintf("http client config: %v", err)}
	}
	u, err := url.Parse(promURL)
	if err != nil {
		return []string{fmt.Sprintf("%s%s: %v", promURLArg, promURL, err)}
	}
	if u.Hostname() != "127.0.0.1" || u.Port() != strconv.Itoa(int(appPort)) || appPort == 0 {
		problems = append(problems, fmt.Sprintf("%s%s: want 127.0.0.1:%d, pcp-remote-read in the same pod", promURLArg, promURL, appPort))
	}
	tls := web.tlsEnabled()
	switch {
	case tls && u.Scheme != "https":
		problems = append(problems, fmt.Sprintf("%s%s: the web config serves TLS only: want https", promURLArg, promURL))
	case !tls && u.Scheme != "http":
		problems = append(problems, fmt.Sprintf("%s%s: the web config serves plain HTTP: want http", promURLArg, promURL))
	}
	t := cc.TLSConfig
	if tls && u.Scheme == "https" && !t.InsecureSkipVerify {
		if t.CAFile == "" {
			problems = append(problems, "tls_config: no ca_file to verify pcp-remote-read's certificate with (or insecure_skip_verify)")
		}
		if t.ServerName == "" {
			problems = append(problems, "tls_config: no server_name: the certificate names the Service, not 127.0.0.1")
		}
	}
	switch web.TLS.ClientAuthType {
	case "RequireAnyClientCert", "RequireAndVerifyClientCert":
		if t.CertFile == "" || t.KeyFile == "" {
			problems = append(problems, fmt.Sprintf("tls_config: client_auth_type %s: want the sidecar's cert_file and key_file", web.TLS.ClientAuthType))
		}
	}
	if len(web.Users) > 0 {
		ba := cc.BasicAuth
		if _, ok := web.Users[ba.Username]; !ok {
			problems = append(problems, fmt.Sprintf("basic_auth: username %q is no basic_auth_users of the web config (%d users)", ba.Username, len(web.Users)))
		}
		if ba.Password == "" && ba.PasswordFile == "" {
			problems = append(problems, "basic_auth: no password or password_file")
		}
	}
	for _, f := range []struct{ key, path string }{
		{"tls_config.ca_file", t.CAFile}, {"tls_config.cert_file", t.CertFile}, {"tls_config.key_file", t.KeyFile},
		{"basic_auth.password_file", cc.BasicAuth.PasswordFile}, {"bearer_token_file", cc.BearerTokenFile},
	} {
		if f.path == "" {
			continue
		}
		if !filepath.IsAbs(f.path) || mountOf(sidecar, filepath.Clean(f.path)) == nil {
			problems = append(problems, fmt.Sprintf("%s %s: on no volume mounted in %s", f.key, f.path, sidecar.Name))
		}
	}
	return problems
}

// archiveVolume is the volume pcp-remote-read mounts at archiveDir.
func archiveVolume(t *testing.T, pod corev1.PodSpec) *corev1.Volume {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name != appContainer {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != archiveDir {
				continue
			}
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == m.Name {
					return &pod.Volumes[i]
				}
			}
		}
	}
	t.Errorf("no archive volume")
	return nil
}

// checkNamespace: an overlay puts every namespaced object in ns.
func checkNamespace(t *testing.T, b *built, ns string) {
	t.Helper()
	for _, o := range b.objects {
		if m := o.(metav1.Object); m.GetNamespace() != ns {
			t.Errorf("%s: namespace %q, want %q", objKey(o), m.GetNamespace(), ns)
		}
	}
}

// buildOutputs builds every overlay once, for the other tests.
func buildOutputs(t *testing.T) []*built {
	t.Helper()
	var bs []*built
	for _, d := range kustomizations(t) {
		if strings.Contains(filepath.ToSlash(d), "/overlays/") {
			bs = append(bs, kustomizeBuild(t, d))
		}
	}
	return bs
}
