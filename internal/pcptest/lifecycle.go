package pcptest

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// LoggerConfig is what the tests' pmloggers log: a few metrics of the
// linux PMDA at 1 s, one of them with an instance domain, and one logged
// once.
const LoggerConfig = `
log mandatory on once { hinv.ncpu }
log mandatory on 1 sec {
    kernel.all.load
    kernel.all.pswitch
    mem.util.used
}
`

// LibpcpPython is the interpreter with Debian's python3-pcp module, which
// testdata/gen/pcp-dump.py needs.
const LibpcpPython = "/usr/bin/python3"

// RequireLibpcpPython skips the test (fails it under CI=true) when
// LibpcpPython cannot import the pcp module.
func RequireLibpcpPython(t testing.TB) {
	t.Helper()
	err := exec.Command(LibpcpPython, "-c", "import pcp.pmapi").Run()
	Require(t, "python3-pcp under "+LibpcpPython, err == nil)
}

// LibpcpDump writes libpcp's reading of src (an archive or a directory of
// archives, through testdata/gen/pcp-dump.py) to dump, gzipped, for
// ReadDump and WantSeries. A failure fails the test.
func LibpcpDump(t testing.TB, src, dump string) {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command(LibpcpPython, filepath.Join(RepoRoot(t), "testdata", "gen", "pcp-dump.py"), src)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pcp-dump.py %s: %v\n%s", src, err, Tail(stderr.String(), 2000))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(out.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dump, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// PCPTool returns the path of a PCP command that may be on $PATH or only
// in $PCP_BINADM_DIR (pmlogextract, pmlogger_daily's helpers), skipping
// the test (failing it under CI=true) when it is in neither.
func PCPTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(PCPConf("PCP_BINADM_DIR", "/usr/lib/pcp/bin"), name)
	_, err := os.Stat(p)
	Require(t, name+" (Debian package pcp)", err == nil)
	return p
}
