package deployments

import (
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
