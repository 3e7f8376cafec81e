package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// testPKI is a CA and a server certificate for 127.0.0.1 and localhost.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func makePKI(t testing.TB, dir string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pcp-remote-read test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pcp-remote-read"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server-key.pem"), pool: x509.NewCertPool()}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.certFile, "CERTIFICATE", der)
	writePEM(t, p.keyFile, "EC PRIVATE KEY", keyDER)
	p.pool.AddCert(ca)
	return p
}

// TestTLSAndBasicAuth serves the demo set over TLS with basic auth
// (--web.config.file, the exporter-toolkit format the README documents)
// and reads it with real Prometheus 2.x and 3.x servers configured with
// tls_config and basic_auth for remote_read. Requests without or with
// wrong credentials, and plain HTTP, are refused.
func TestTLSAndBasicAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	dir := t.TempDir()
	pki := makePKI(t, dir)
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web-config.yml")
	cfg := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  min_version: TLS12\nbasic_auth_users:\n  %s: %s\n",
		pki.certFile, pki.keyFile, user, hash)
	if err := os.WriteFile(webConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := pcptest.FreePort(t)
	logs := &logBuffer{}
	done := make(chan int, 1)
	ctxArgs := []string{"--web.listen-address=" + addr, "--log.format=json", "--log.level=debug", "--archive.rescan-interval=0", "--cache.dir=" + cacheDir(t),
		"--web.config.file=" + webConfig, filepath.Join(pcptest.RepoRoot(t), "testdata", "demo")}
	stop := runInProcess(t, ctxArgs, logs, done)
	defer stop()
	base := "https://" + addr
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}, Timeout: time.Minute}
	get := func(u, user, pass string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := tlsClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get(base+"/-/ready", user, password); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready over TLS; log:\n%s", pcptest.Tail(logs.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}

	query := url.Values{"query": {"kernel_all_load"}, "time": {"1795100430"}}.Encode()
	for _, c := range []struct {
		name, path, user, pass string
		want                   int
	}{
		{"no credentials", "/api/v1/read", "", "", 401},
		{"no credentials, query API", "/api/v1/query?" + query, "", "", 401},
		{"no credentials, status", "/status?format=json", "", "", 401},
		{"no credentials, metrics", "/metrics", "", "", 401},
		{"wrong password", "/api/v1/query?" + query, user, "wrong", 401},
		{"unknown user", "/api/v1/query?" + query, "admin", password, 401},
		{"right credentials", "/api/v1/query?" + query, user, password, 200},
	} {
		if code, body := get(base+c.path, c.user, c.pass); code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, code, c.want, pcptest.Tail(body, 200))
		}
	}
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Get("http://" + addr + "/api/v1/query?" + query); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || strings.Contains(string(b), "success") {
			t.Errorf("plain HTTP: %d %s", resp.StatusCode, pcptest.Tail(string(b), 200))
		}
	}
	// A client that does not trust the CA cannot connect.
	if _, err := http.Get(base + "/-/healthy"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v", err)
	}

	// What the server itself answers, to compare Prometheus' answers with.
	_, body := get(base+"/api/v1/query?"+query, user, password)
	var direct pcptest.APIResponse
	if err := json.Unmarshal([]byte(body), &direct); err != nil {
		t.Fatal(err)
	}
	var want pcptest.QueryResult
	if err := json.Unmarshal(direct.Data, &want); err != nil || len(want.Result) == 0 {
		t.Fatalf("direct answer %s: %v", body, err)
	}

	auth := fmt.Sprintf("    tls_config:\n      ca_file: %s\n    basic_auth:\n      username: %s\n      password: %q\n", pki.caFile, user, password)
	for _, p := range []struct {
		name string
		bin  func(testing.TB) string
	}{{"prometheus2", pcptest.Prometheus2}, {"prometheus3", pcptest.Prometheus3}} {
		t.Run(p.name, func(t *testing.T) {
			bin := p.bin(t)
			prom := pcptest.StartPrometheus(t, bin, base+"/api/v1/read", auth)
			got := pcptest.Query(t, prom, url.Values{"query": {"kernel_all_load"}, "time": {"1795100430"}})
			t.Logf("%d series through %s over TLS with basic auth", len(got.Result), p.name)
			if len(got.Result) != len(want.Result) {
				t.Fatalf("%d series through %s, %d directly", len(got.Result), p.name, len(want.Result))
			}
			for _, r := range got.Result {
				found := false
				for _, w := range want.Result {
					if fmt.Sprint(w.Metric) == fmt.Sprint(r.Metric) {
						found = fmt.Sprint(w.Value) == fmt.Sprint(r.Value)
					}
				}
				if !found {
					t.Errorf("%v %v: not what the server answers directly", r.Metric, r.Value)
				}
			}
			// The same Prometheus with a wrong password gets nothing and
			// a warning that says 401.
			bad := strings.Replace(auth, fmt.Sprintf("%q", password), `"wrong"`, 1)
			prom = pcptest.StartPrometheus(t, bin, base+"/api/v1/read", bad)
			code, r := pcptest.API(t, prom, "/api/v1/query", url.Values{"query": {"kernel_all_load"}, "time": {"1795100430"}})
			var q pcptest.QueryResult
			json.Unmarshal(r.Data, &q)
			if code != 200 || len(q.Result) != 0 || !strings.Contains(strings.Join(r.Warnings, " "), "401") {
				t.Errorf("with a wrong password: %d, %d series, warnings %v", code, len(q.Result), r.Warnings)
			}
		})
	}
	logs.noErrors(t)
}
