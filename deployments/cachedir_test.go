package deployments

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestCacheDirProblems checks the check of --cache.dir on pods that get it
// wrong, so that TestKustomizeBuild passing means something.
func TestCacheDirProblems(t *testing.T) {
	limit := resource.MustParse("1Gi")
	good := func() (corev1.PodSpec, corev1.Container) {
		c := corev1.Container{
			Name: appContainer,
			Args: []string{cacheDirArg + "/var/cache/pcp-remote-read", archiveDir},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "archives", MountPath: archiveDir, ReadOnly: true},
				{Name: "cache", MountPath: "/var/cache/pcp-remote-read"},
			},
		}
		pod := corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "archives", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}},
		}}
		return pod, c
	}
	if p, c := good(); len(cacheDirProblems(p, c)) > 0 {
		t.Fatalf("the good pod: %v", cacheDirProblems(p, c))
	}
	for _, tc := range []struct {
		name   string
		change func(*corev1.PodSpec, *corev1.Container)
		want   string
	}{
		{"no flag", func(p *corev1.PodSpec, c *corev1.Container) { c.Args = c.Args[1:] }, "want one --cache.dir="},
		{"twice", func(p *corev1.PodSpec, c *corev1.Container) { c.Args = append(c.Args, cacheDirArg+"/tmp") }, "want one --cache.dir="},
		{"empty (tables off)", func(p *corev1.PodSpec, c *corev1.Container) { c.Args[0] = cacheDirArg }, "not an absolute path"},
		{"relative", func(p *corev1.PodSpec, c *corev1.Container) { c.Args[0] = cacheDirArg + "tables" }, "not an absolute path"},
		{"on the root filesystem", func(p *corev1.PodSpec, c *corev1.Container) { c.Args[0] = cacheDirArg + "/home/nonroot/.cache" }, "on no mounted volume"},
		{"inside the archives", func(p *corev1.PodSpec, c *corev1.Container) { c.Args[0] = cacheDirArg + archiveDir + "/.tables" }, "overlaps the archive mount"},
		{"holding the archives", func(p *corev1.PodSpec, c *corev1.Container) {
			c.VolumeMounts[1].MountPath = "/var/log/pcp"
			c.Args[0] = cacheDirArg + "/var/log/pcp"
		}, "overlaps the archive mount"},
		{"mounted read-only", func(p *corev1.PodSpec, c *corev1.Container) { c.VolumeMounts[1].ReadOnly = true }, "mounted read-only"},
		{"a ConfigMap", func(p *corev1.PodSpec, c *corev1.Container) {
			p.Volumes[1].VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}
		}, "not writable storage"},
		{"a read-only claim", func(p *corev1.PodSpec, c *corev1.Container) {
			p.Volumes[1].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "x", ReadOnly: true}}
		}, "claim x is read-only"},
		{"an unbounded emptyDir", func(p *corev1.PodSpec, c *corev1.Container) { p.Volumes[1].EmptyDir.SizeLimit = nil }, "has no sizeLimit"},
		{"no such volume", func(p *corev1.PodSpec, c *corev1.Container) { p.Volumes = p.Volumes[:1] }, "no volume cache"},
	} {
		pod, c := good()
		tc.change(&pod, &c)
		got := strings.Join(cacheDirProblems(pod, c), "; ")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want one saying %q", tc.name, got, tc.want)
		}
	}
	// A subdirectory of the cache mount, and a writable claim, are fine.
	pod, c := good()
	c.Args[0] = cacheDirArg + "/var/cache/pcp-remote-read/tables"
	pod.Volumes[1].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tables"}}
	if p := cacheDirProblems(pod, c); len(p) > 0 {
		t.Errorf("a claim, below its mount point: %v", p)
	}
}

// TestCacheBoundProblems checks the check of --cache.dir-size and
// --cache.build-cpus on pods that get them wrong.
func TestCacheBoundProblems(t *testing.T) {
	const dir = "/var/cache/pcp-remote-read"
	good := func() (corev1.PodSpec, corev1.Container) {
		limit := resource.MustParse("10Gi")
		c := corev1.Container{
			Name:         appContainer,
			Args:         []string{cacheDirArg + dir, cacheDirSizeArg + "8GiB", cacheBuildCPUsArg + "1", archiveDir},
			VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: dir}},
		}
		pod := corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}},
		}}
		return pod, c
	}
	claims := map[string]*corev1.PersistentVolumeClaim{}
	claim := func(name string) *corev1.PersistentVolumeClaim { return claims[name] }
	claimOf := func(size string) corev1.PersistentVolumeClaimSpec {
		spec := corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}
		if size != "" {
			spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
		}
		return spec
	}
	claims["tables"] = &corev1.PersistentVolumeClaim{Spec: claimOf("10Gi")}
	claims["tables"].Name = "tables"
	claims["small"] = &corev1.PersistentVolumeClaim{Spec: claimOf("5Gi")}
	claims["small"].Name = "small"
	claims["unsized"] = &corev1.PersistentVolumeClaim{Spec: claimOf("")}
	claims["unsized"].Name = "unsized"
	setArg := func(c *corev1.Container, prefix, value string) {
		for i, a := range c.Args {
			if strings.HasPrefix(a, prefix) {
				c.Args[i] = prefix + value
			}
		}
	}
	dropArg := func(c *corev1.Container, prefix string) {
		c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, prefix) })
	}
	cpuLimit := func(c *corev1.Container, q string) {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	if p, c := good(); len(cacheBoundProblems(p, c, claim)) > 0 {
		t.Fatalf("the good pod: %v", cacheBoundProblems(p, c, claim))
	}
	for _, tc := range []struct {
		name   string
		change func(*corev1.PodSpec, *corev1.Container)
		want   string
	}{
		{"no bound (the default, 10GiB)", func(p *corev1.PodSpec, c *corev1.Container) { dropArg(c, cacheDirSizeArg) }, "want one --cache.dir-size="},
		{"bound twice", func(p *corev1.PodSpec, c *corev1.Container) { c.Args = append(c.Args, cacheDirSizeArg+"1GiB") }, "want one --cache.dir-size="},
		{"0: unbounded", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "0") }, "is no bound"},
		{"0GiB: unbounded", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "0GiB") }, "is no bound"},
		{"Kubernetes' Gi", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "8Gi") }, "the server's is GiB"},
		{"SI kB", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "8000kB") }, "not a size"},
		{"negative", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "-1") }, "not a size"},
		{"empty", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "") }, "not a size"},
		{"overflowing", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "9000000PiB") }, "too large"},
		{"the server's default on a 10Gi emptyDir", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "10GiB") }, "more than 4/5 of the emptyDir cache sizeLimit 10Gi"},
		{"past 4/5, in plain bytes", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "8589934593") }, "more than 4/5"},
		{"a smaller sizeLimit", func(p *corev1.PodSpec, c *corev1.Container) {
			q := resource.MustParse("8Gi")
			p.Volumes[0].EmptyDir.SizeLimit = &q
		}, "more than 4/5"},
		{"no room for eight builders' tables", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheBuildCPUsArg, "8") }, "less than 512 MiB for each of the 8 builders"},
		{"a small volume", func(p *corev1.PodSpec, c *corev1.Container) {
			q := resource.MustParse("1Gi")
			p.Volumes[0].EmptyDir.SizeLimit = &q
			setArg(c, cacheDirSizeArg, "800MiB")
		}, "leaves 224 MiB"},
		{"a claim too small", func(p *corev1.PodSpec, c *corev1.Container) {
			p.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "small"}}
		}, "claim small storage request 5Gi"},
		{"a claim of no size", func(p *corev1.PodSpec, c *corev1.Container) {
			p.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "unsized"}}
		}, "no storage request"},
		{"an ephemeral volume too small", func(p *corev1.PodSpec, c *corev1.Container) {
			p.Volumes[0].VolumeSource = corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: claimOf("9Gi")}}}
		}, "ephemeral volume cache storage request 9Gi"},
		{"no build-cpus", func(p *corev1.PodSpec, c *corev1.Container) { dropArg(c, cacheBuildCPUsArg) }, "want one --cache.build-cpus="},
		{"build-cpus twice", func(p *corev1.PodSpec, c *corev1.Container) { c.Args = append(c.Args, cacheBuildCPUsArg+"1") }, "want one --cache.build-cpus="},
		{"0 builders", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheBuildCPUsArg, "0") }, "not a positive integer"},
		{"negative builders", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheBuildCPUsArg, "-2") }, "not a positive integer"},
		{"a fraction of a builder", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheBuildCPUsArg, "0.5") }, "not a positive integer"},
		{"a CPU quantity", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheBuildCPUsArg, "500m") }, "not a positive integer"},
		{"more builders than the CPU limit", func(p *corev1.PodSpec, c *corev1.Container) {
			cpuLimit(c, "1")
			setArg(c, cacheBuildCPUsArg, "2")
		}, "more than the CPU limit 1 (1 cores"},
		{"more builders than 1500m rounded up", func(p *corev1.PodSpec, c *corev1.Container) {
			cpuLimit(c, "1500m")
			setArg(c, cacheBuildCPUsArg, "3")
		}, "more than the CPU limit 1500m (2 cores"},
	} {
		pod, c := good()
		tc.change(&pod, &c)
		got := strings.Join(cacheBoundProblems(pod, c, claim), "; ")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want one saying %q", tc.name, got, tc.want)
		}
	}
	// Fine: exactly 4/5, in any unit; a claim; a CPU limit below one core
	// (rounded up: one builder); two builders within 1500m.
	for _, tc := range []struct {
		name   string
		change func(*corev1.PodSpec, *corev1.Container)
	}{
		{"8192MiB", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "8192MiB") }},
		{"8GB (base 2)", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "8GB") }},
		{"plain bytes", func(p *corev1.PodSpec, c *corev1.Container) { setArg(c, cacheDirSizeArg, "8589934592") }},
		{"a claim", func(p *corev1.PodSpec, c *corev1.Container) {
			p.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tables"}}
		}},
		{"250m", func(p *corev1.PodSpec, c *corev1.Container) { cpuLimit(c, "250m") }},
		{"1500m, two builders", func(p *corev1.PodSpec, c *corev1.Container) {
			cpuLimit(c, "1500m")
			setArg(c, cacheBuildCPUsArg, "2")
			setArg(c, cacheDirSizeArg, "7GiB")
		}},
	} {
		pod, c := good()
		tc.change(&pod, &c)
		if p := cacheBoundProblems(pod, c, claim); len(p) > 0 {
			t.Errorf("%s: %v", tc.name, p)
		}
	}
}

// TestParseSize: parseSize takes what the server's --cache.dir-size takes
// (a subset of it), with the same values.
func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "1": 1, "1048576": 1 << 20, "1B": 1, "64KiB": 64 << 10, "64KB": 64 << 10,
		"512MiB": 512 << 20, "8GiB": 8 << 30, "8GB": 8 << 30, "2TiB": 2 << 40, "1PiB": 1 << 50,
	} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "B", "GiB", "8Gi", "8G", "8gib", "8kB", "8 GiB", "-1", "+1GiB", "1.5GiB", "1GiB512MiB", "0x10", "9223372036854775808", "8EiB"} {
		if got, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", s, got)
		}
	}
}
