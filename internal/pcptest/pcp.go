package pcptest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PCPConf returns a setting of /etc/pcp.conf ($PCP_CONF), the environment
// taking precedence as in pcp.env, or def when neither has it.
func PCPConf(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	conf := os.Getenv("PCP_CONF")
	if conf == "" {
		conf = "/etc/pcp.conf"
	}
	f, err := os.Open(conf)
	if err != nil {
		return def
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == key {
			return strings.Trim(v, `"'`)
		}
	}
	return def
}

// PMCDAddr is the only address the tests talk to pmcd on.
const PMCDAddr = "127.0.0.1"

// pmcdAnswers reports whether pmcd answers on PMCDAddr.
func pmcdAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "pminfo", "-h", PMCDAddr, "-f", "pmcd.version").Run() == nil
}

// PMCD makes sure a pmcd answers on 127.0.0.1 for the rest of the test. When
// none does it starts one, bound to loopback only, the way
// testdata/gen/make-testdata.sh does (merged PMNS, $PCP_RUN_DIR, a scratch
// working directory for the PMDAs' logs), and stops it when the test ends.
// Without PCP, or when pmcd cannot be started (not root), the test is
// skipped, or fails under CI=true.
//
// Test binaries of several packages run at once, and each would otherwise
// use or start the one pmcd on its own: a pmcd one binary started dies
// when that binary's test ends, under another's pmlogger, and a second
// pmcd that fails to bind the port takes the first one's unix socket
// with it as it exits (pmlogger's local: then falls back to TCP, and its
// archive loses the credential labels). So a test holds an exclusive
// lock on a file in the temporary directory from here until it ends:
// the tests that need pmcd run one after another, across packages.
func PMCD(t testing.TB) {
	t.Helper()
	_, err := exec.LookPath("pminfo")
	Require(t, "PCP (pminfo; Debian package pcp)", err == nil)
	lockPMCD(t)
	if pmcdAnswers() {
		return
	}
	bin := filepath.Join(PCPConf("PCP_BINADM_DIR", "/usr/lib/pcp/bin"), "pmcd")
	_, err = os.Stat(bin)
	Require(t, "pmcd at "+bin+" (Debian package pcp)", err == nil)
	Require(t, "a pmcd on "+PMCDAddr+", or root to start one", os.Geteuid() == 0)

	// A fresh install has no merged PMNS until Rebuild runs, and pmcd will
	// not start without one; Rebuild writes `root` into its cwd.
	pmns := filepath.Join(PCPConf("PCP_VAR_DIR", "/var/lib/pcp"), "pmns")
	if _, err := os.Stat(filepath.Join(pmns, "root")); err != nil {
		cmd := exec.Command("./Rebuild", "-u")
		cmd.Dir = pmns
		out, err := cmd.CombinedOutput()
		Require(t, fmt.Sprintf("a PMNS (Rebuild -u in %s: %v %s)", pmns, err, out), err == nil)
	}
	if err := os.MkdirAll(PCPConf("PCP_RUN_DIR", "/run/pcp"), 0o755); err != nil {
		Require(t, "PCP_RUN_DIR: "+err.Error(), false)
	}
	// Each PMDA writes <name>.log into pmcd's working directory: a scratch
	// directory, removed when pmcd has stopped (not t.TempDir, which would
	// fail the test if a PMDA were still writing as it is removed).
	dir, err := os.MkdirTemp("", "pcptest-pmcd-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "-i", PMCDAddr, "-l", "pmcd.log")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		Require(t, "pmcd: "+err.Error(), false)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		Terminate(cmd.Process, exited, syscall.SIGTERM, 10*time.Second)
		os.RemoveAll(dir)
	}
	pmcdLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "pmcd.log"))
		return Tail(string(b), 2000)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if pmcdAnswers() {
			break
		}
		select {
		case <-exited:
			// Lost a race with another pmcd being started? Then use it.
			if pmcdAnswers() {
				os.RemoveAll(dir)
				return
			}
			log := pmcdLog()
			os.RemoveAll(dir)
			Require(t, "a pmcd that starts (it exited: "+log+")", false)
		default:
		}
		if time.Now().After(deadline) {
			log := pmcdLog()
			stop()
			Require(t, "a pmcd that answers within 30s (log: "+log+")", false)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("started pmcd (pid %d) on %s", cmd.Process.Pid, PMCDAddr)
	t.Cleanup(stop)
}

// lockPMCD takes the lock PMCD describes and releases it when the test
// ends (after the cleanups registered later, which stop pmcd, have run).
func lockPMCD(t testing.TB) {
	t.Helper()
	name := filepath.Join(os.TempDir(), "pcptest-pmcd.lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatalf("pmcd lock: %v", err)
	}
	began := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("pmcd lock %s: %v", name, err)
	}
	if waited := time.Since(began); waited > time.Second {
		t.Logf("waited %v for another test's use of pmcd (%s)", waited.Round(time.Millisecond), name)
	}
	// Closing the file releases the lock.
	t.Cleanup(func() { f.Close() })
}

// Pmlogger is a pmlogger started by StartPmlogger.
type Pmlogger struct {
	Base string // archive base name
	Log  string // pmlogger's log file
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartPmlogger runs `pmlogger -h 127.0.0.1 -c config -l logFile args...
// base` and stops it (if still running) when the test ends. PMCD must have
// been called.
func StartPmlogger(t testing.TB, config, base, logFile string, args ...string) *Pmlogger {
	t.Helper()
	return StartPmloggerHost(t, PMCDAddr, config, base, logFile, args...)
}

// Exited reports whether pmlogger has exited, and how.
func (p *Pmlogger) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends pmlogger SIGINT, as an administrator would, and waits for it to
// write its last record and exit.
func (p *Pmlogger) Stop() error {
	if done, err := p.Exited(); done {
		return err
	}
	if Terminate(p.cmd.Process, p.done, os.Interrupt, 10*time.Second) {
		return errors.New("pmlogger ignored SIGINT for 10s; killed")
	}
	// pmlogger exits 0 after SIGINT; a signal status is no failure either.
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && !ee.Exited() {
		return nil
	}
	return p.err
}

// LogText returns pmlogger's log, for failure messages.
func (p *Pmlogger) LogText() string {
	b, _ := os.ReadFile(p.Log)
	return Tail(string(b), 3000)
}
