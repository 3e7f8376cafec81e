package pcptest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Thanos returns the Thanos built from its module (make thanos, or
// $THANOS).
func Thanos(t testing.TB) string {
	p := os.Getenv("THANOS")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "thanos")
	}
	_, err := os.Stat(p)
	Require(t, "thanos at "+p+" (make thanos)", err == nil)
	return p
}

// ThanosProc is a running thanos component.
type ThanosProc struct {
	HTTP string // base URL of its HTTP server
	GRPC string // host:port of its gRPC server
}

// StartThanos runs `thanos <component> --http-address --grpc-address
// args...` on free loopback ports, waits until it is ready (/-/ready) and
// stops it when the test ends, showing its log if the test failed.
func StartThanos(t testing.TB, bin, component string, args ...string) ThanosProc {
	t.Helper()
	dir := t.TempDir()
	p := ThanosProc{HTTP: "http://" + FreePort(t), GRPC: FreePort(t)}
	argv := append([]string{component,
		"--http-address=" + p.HTTP[len("http://"):],
		"--grpc-address=" + p.GRPC,
		"--log.level=info",
	}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, argv...)
	log, err := os.Create(filepath.Join(dir, component+".log"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("thanos %s log:\n%s", component, Tail(string(b), 4000))
		}
	})
	WaitReady(t, p.HTTP+"/-/ready", 60*time.Second, exited)
	return p
}

// ThanosStore is one entry of thanos query's /api/v1/stores.
type ThanosStore struct {
	Name      string              `json:"name"`
	LastError *string             `json:"lastError"`
	LabelSets []map[string]string `json:"labelSets"`
	MinTime   int64               `json:"minTime"`
	MaxTime   int64               `json:"maxTime"`
}

// WaitThanosStores polls thanos query's /api/v1/stores until n stores of
// type typ answer without error, and returns them.
func WaitThanosStores(t testing.TB, query, typ string, n int, timeout time.Duration) []ThanosStore {
	t.Helper()
	var last []ThanosStore
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(query + "/api/v1/stores")
		if err != nil {
			continue
		}
		var r struct {
			Data map[string][]ThanosStore `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			continue
		}
		last = r.Data[typ]
		ok := 0
		for _, s := range last {
			if s.LastError == nil {
				ok++
			}
		}
		if ok == n && len(last) == n {
			return last
		}
	}
	t.Fatalf("thanos query: want %d %s stores without errors within %v, have %+v", n, typ, timeout, last)
	return nil
}
