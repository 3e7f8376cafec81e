package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// treeState is every file and directory under a root: mode, size,
// modification time and content hash.
func treeState(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		s := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[p] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fdFiles lists the files a process has open, with their open flags.
func fdFiles(pid int) map[string]int64 {
	out := map[string]int64{}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(target, "/") {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		// The descriptor may have been closed and reused (say by a
		// socket, opened read-write) between the two reads: count the
		// flags only when the link is unchanged after them and fdinfo's
		// inode is the file's.
		if again, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || again != target {
			continue
		}
		var flags, ino int64 = -1, -1
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ = strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			}
			if v, ok := strings.CutPrefix(line, "ino:"); ok {
				ino, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
		var st syscall.Stat_t
		if flags < 0 || syscall.Stat(target, &st) != nil || ino >= 0 && int64(st.Ino) != ino {
			continue
		}
		out[target] = flags
	}
	return out
}

// TestReadOnly runs queries of every kind (and requests that try to name
// files) against a server whose archive tree it watches: every file the
// server opens is opened read-only and lies under the configured root or
// its cache directory, and afterwards no file or directory under the root
// was added, removed or changed. As root, the server runs as nobody, to
// whom the tree is read-only.
func TestReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	root := publicTempDir(t)
	pcptest.CopyDemo(t, root)
	pcptest.MakeDamaged(t, filepath.Join(root, "bad"))
	if os.Geteuid() != 0 {
		// Make the tree read-only for us, the server's user.
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				if d.IsDir() {
					os.Chmod(p, 0o555)
				} else {
					os.Chmod(p, 0o444)
				}
			}
			return nil
		})
		t.Cleanup(func() {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o755)
				}
				return nil
			})
		})
	}
	before := treeState(t, root)

	srv := startUnprivileged(t, "--archive.rescan-interval=200ms", root)
	pid := srv.pid
	if pid == 0 {
		pid = os.Getpid()
	}

	// Watch the server's open files while the requests run.
	stop := make(chan struct{})
	var watched sync.WaitGroup
	seen := map[string]int64{}
	watched.Add(1)
	go func() {
		defer watched.Done()
		for {
			for p, flags := range fdFiles(pid) {
				seen[p] |= flags
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	for range 3 {
		for _, host := range []string{"demo-db1", "demo-web1"} {
			readHost(t, srv.base, host, false)
			readHost(t, srv.base, host, true)
		}
		for _, d := range pcptest.MakeDamaged(t, t.TempDir()) {
			readHost(t, srv.base, d.Host, false)
		}
		for _, path := range []string{
			"/api/v1/query?" + url.Values{"query": {`rate(kernel_all_cpu_user[5m])`}, "time": {"1795100430"}}.Encode(),
			"/api/v1/query_range?" + url.Values{"query": {`sum(mem_util_used)`}, "start": {"1794960000"}, "end": {"1795158000"}, "step": {"60"}}.Encode(),
			"/api/v1/series?" + url.Values{"match[]": {`{__name__=~".+"}`}}.Encode(),
			"/api/v1/labels", "/api/v1/label/hostname/values", "/api/v1/metadata", "/status", "/status?format=json", "/metrics",
			// Requests that name files: nothing reads them.
			"/api/v1/query?" + url.Values{"query": {`{__name__="/etc/passwd"}`}}.Encode(),
			"/api/v1/label/..%2F..%2Fetc%2Fpasswd/values",
			"/status?path=/etc/shadow", "/../../etc/passwd", "/api/v1/read/../../../etc/passwd",
		} {
			resp, err := http.Get(srv.base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("%s: %d", path, resp.StatusCode)
			}
		}
		body, _ := remoteread.EncodeReadRequest(&prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: 1 << 62,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "hostname", Value: "../../../../etc"}, {Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "passwd|shadow"}}}}})
		code, _, b := postRaw(t, nil, srv.base+"/api/v1/read", remoteread.ContentTypeSamples, body)
		if resp, err := remoteread.DecodeReadResponse(b); code != 200 || err != nil || len(resp.Results) != 1 || len(resp.Results[0].Timeseries) != 0 {
			t.Errorf("a read naming /etc: %d, %v", code, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // rescans and table building
	close(stop)
	watched.Wait()

	var paths []string
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	archives := 0
	for _, p := range paths {
		flags := seen[p]
		switch {
		case p == root || strings.HasPrefix(p, root+"/"):
			archives++
			if flags&int64(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
				t.Errorf("%s opened with flags %o: not read-only", p, flags)
			}
		case pid == os.Getpid():
			// In this process the test's own files are open too.
		case p == "/dev/null" || strings.HasPrefix(p, filepath.Join(os.TempDir(), "pcp-remote-read-cache-")),
			strings.HasPrefix(p, "/sys/fs/cgroup/") || strings.HasPrefix(p, "/proc/"): // the Go runtime sizing GOMAXPROCS
		default:
			t.Errorf("the server opened %s (flags %o), outside the archive root and its cache", p, flags)
		}
	}
	if archives == 0 {
		t.Errorf("no archive file was seen open: the watch is not working")
	}
	t.Logf("%d archive files seen open, all read-only", archives)

	after := treeState(t, root)
	for p, s := range before {
		if after[p] != s {
			t.Errorf("%s changed: %q, now %q", p, s, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared under the archive root", p)
		}
	}
	srv.logs.noErrors(t)
}
