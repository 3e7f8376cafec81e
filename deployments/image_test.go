package deployments

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// dockerfile is the Dockerfile's instructions, continuation lines joined
// and comments dropped, each split into its keyword and the rest.
type instruction struct{ cmd, args string }

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ins []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" && cur.Len() == 0 {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ins
}

// TestDockerfile checks the Dockerfile by inspection, as no container
// engine runs here: a Go build stage on the Go series of go.mod building
// with CGO_ENABLED=0, a distroless-static (or scratch) final stage without
// RUN (it has no shell), running as 65532, exposing 9201, with the binary
// as the exec-form entrypoint and /var/log/pcp/pmlogger as the default
// archive directory; and that .dockerignore keeps every file the build
// needs.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	var stages [][]instruction
	args := map[string]string{} // ARGs before the first FROM
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			stages = append(stages, nil)
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}

	// The build stage: Go of go.mod's series, static build.
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	build := stages[0]
	from := strings.ReplaceAll(build[0].args, "${GO_VERSION}", args["GO_VERSION"])
	if !strings.HasPrefix(from, "golang:"+string(m[1])+" ") && !strings.HasPrefix(from, "golang:"+string(m[1])+"-") {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod's go %s)", from, m[1], m[1])
	}
	var goBuild string
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/pcp-remote-read", "-o /out/pcp-remote-read"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("build RUN %q lacks %s", goBuild, want)
		}
	}

	// The final stage.
	final := stages[len(stages)-1]
	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static or scratch", base)
	}
	got := map[string][]string{}
	for _, in := range final[1:] {
		got[in.cmd] = append(got[in.cmd], in.args)
	}
	if len(got["RUN"]) > 0 {
		t.Errorf("RUN in the final stage: %v (distroless has no shell)", got["RUN"])
	}
	if !slices.Equal(got["USER"], []string{"65532:65532"}) {
		t.Errorf("USER %v, want 65532:65532 (distroless' nonroot)", got["USER"])
	}
	if !slices.Equal(got["EXPOSE"], []string{"9201"}) {
		t.Errorf("EXPOSE %v, want 9201", got["EXPOSE"])
	}
	if !slices.Contains(got["COPY"], "--from=build /out/pcp-remote-read /pcp-remote-read") {
		t.Errorf("COPY %v: the binary is not copied to /pcp-remote-read", got["COPY"])
	}
	execForm := func(name string) []string {
		if len(got[name]) != 1 {
			t.Errorf("%s %v: want exactly one", name, got[name])
			return nil
		}
		var v []string
		if err := json.Unmarshal([]byte(got[name][0]), &v); err != nil {
			t.Errorf("%s %s: not the exec (JSON) form: %v", name, got[name][0], err)
		}
		return v
	}
	if ep := execForm("ENTRYPOINT"); !slices.Equal(ep, []string{"/pcp-remote-read"}) {
		t.Errorf("ENTRYPOINT %v, want [/pcp-remote-read]", ep)
	}
	if cmd := execForm("CMD"); !slices.Equal(cmd, []string{archiveDir}) {
		t.Errorf("CMD %v, want [%s]", cmd, archiveDir)
	}
	if !slices.Contains(got["ENV"], "PCP_ARCHIVE_DIR="+archiveDir) {
		t.Errorf("ENV %v: want PCP_ARCHIVE_DIR=%s, the default when arguments replace CMD", got["ENV"], archiveDir)
	}

	// .dockerignore keeps what the build needs and drops the bulk.
	ignore := readDockerignore(t)
	for _, p := range []string{".git", "bin", "testdata"} {
		if !ignored(ignore, p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	needed := []string{"go.mod", "go.sum"}
	out, err := goCmd(t, repoRoot(t), nil, "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`, "./cmd/pcp-remote-read")
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(repoRoot(t), f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if ignored(ignore, p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}

func readDockerignore(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			t.Fatalf(".dockerignore: exceptions (%s) are not handled by this test", l)
		}
		pats = append(pats, strings.Trim(l, "/"))
	}
	return pats
}

// ignored applies .dockerignore patterns as Docker does, for the patterns
// used here: a pattern matches a path or any of its parent directories;
// "**/" matches any number of directories.
func ignored(pats []string, path string) bool {
	parts := strings.Split(path, "/")
	for _, p := range pats {
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				for j := range i {
					if ok, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); ok {
						return true
					}
				}
			} else if ok, _ := filepath.Match(p, prefix); ok {
				return true
			}
		}
	}
	return false
}

// goCmd runs the go command in dir and returns its standard output; a
// failure's error carries its standard error (which also has progress
// lines such as "go: downloading ..." that must stay out of the output).
func goCmd(t *testing.T, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, err
}

// TestBinaryIsStatic builds pcp-remote-read as the Dockerfile does
// (CGO_ENABLED=0, -trimpath, stripped) for linux and checks with debug/elf
// that it is a static executable, which distroless/static and scratch
// need: no program interpreter (PT_INTERP), no dynamic section, no shared
// library (DT_NEEDED). On Linux it also runs it.
func TestBinaryIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "pcp-remote-read")
	_, err := goCmd(t, repoRoot(t), []string{"CGO_ENABLED=0", "GOOS=linux"},
		"build", "-trimpath", "-ldflags", "-s -w -X main.version=static-test", "-o", bin, "./cmd/pcp-remote-read")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Errorf("ELF type %v, want ET_EXEC (a static, non-PIE executable)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("DT_NEEDED %v: the binary needs shared libraries", libs)
	}
	if runtime.GOOS == "linux" {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "pcp-remote-read static-test" {
			t.Errorf("%s --version: %v: %q", bin, err, out)
		}
	}
}
