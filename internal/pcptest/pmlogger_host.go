package pcptest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// StartPmloggerHost is StartPmlogger connecting to pmcd as host, e.g.
// "local:" (pmcd's Unix socket, what pmlogger_check uses by default, on
// which pmcd adds the client's credentials, groupid and userid, to the
// context labels). PMCD must have been called.
func StartPmloggerHost(t testing.TB, host, config, base, logFile string, args ...string) *Pmlogger {
	t.Helper()
	bin, err := exec.LookPath("pmlogger")
	Require(t, "pmlogger (Debian package pcp)", err == nil)
	argv := append([]string{"-h", host, "-c", config, "-l", logFile}, args...)
	p := &Pmlogger{Base: base, Log: logFile, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append(argv, base)...)
	p.cmd.Dir = filepath.Dir(logFile)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Logf("pmlogger %s: %v", base, err)
		}
	})
	return p
}
