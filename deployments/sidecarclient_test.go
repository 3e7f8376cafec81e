package deployments

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestSidecarClientProblems checks the check of how the Thanos sidecar
// reaches pcp-remote-read against the server's web config, on
// configurations that get it right and wrong, so that TestKustomizeBuild
// passing on the thanos overlay (plain HTTP as shipped) means something for
// the TLS and basic-auth setups its comments describe.
func TestSidecarClientProblems(t *testing.T) {
	sidecar := corev1.Container{
		Name: sidecarContainer,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "thanos-http-client", MountPath: "/etc/thanos-sidecar", ReadOnly: true},
			{Name: "tls", MountPath: "/etc/pcp-remote-read/tls", ReadOnly: true},
		},
	}
	const (
		plain   = "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
		tlsWeb  = "tls_server_config:\n  cert_file: /etc/pcp-remote-read/tls/tls.crt\n  key_file: /etc/pcp-remote-read/tls/tls.key\n"
		mtlsWeb = tlsWeb + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: /etc/pcp-remote-read/tls/ca.crt\n"
		authWeb = "basic_auth_users:\n  thanos: $2y$10$abcdefghijklmnopqrstuv\n"
		// Only comments, as the overlay ships it.
		noClient  = "# tls_config:\n#   ca_file: /etc/pcp-remote-read/tls/ca.crt\n"
		tlsClient = "tls_config:\n  ca_file: /etc/pcp-remote-read/tls/ca.crt\n  server_name: pcp-remote-read-shard-a.pcp.svc\n"
		authPart  = "basic_auth:\n  username: thanos\n  password_file: /etc/thanos-sidecar/password\n"
		httpURL   = "http://127.0.0.1:9201"
		httpsURL  = "https://127.0.0.1:9201"
	)
	for _, tc := range []struct {
		name             string
		web, client, url string
		want             string // a problem containing this; "" for none
	}{
		{name: "plain HTTP, as shipped", web: plain, client: noClient, url: httpURL},
		{name: "plain HTTP, no client config", web: plain, url: httpURL},
		{name: "TLS", web: tlsWeb, client: tlsClient, url: httpsURL},
		{name: "TLS, verification off", web: tlsWeb, client: "tls_config:\n  insecure_skip_verify: true\n", url: httpsURL},
		{name: "TLS and basic auth", web: tlsWeb + authWeb, client: tlsClient + authPart, url: httpsURL},
		{name: "basic auth, inline password", web: authWeb, client: "basic_auth:\n  username: thanos\n  password: secret\n", url: httpURL},
		{name: "mutual TLS", web: mtlsWeb, client: tlsClient + "  cert_file: /etc/pcp-remote-read/tls/tls.crt\n  key_file: /etc/pcp-remote-read/tls/tls.key\n", url: httpsURL},

		{name: "not the loopback", web: plain, url: "http://pcp-remote-read-shard-a.pcp.svc:9201", want: "want 127.0.0.1:9201"},
		{name: "another port", web: plain, url: "http://127.0.0.1:9090", want: "want 127.0.0.1:9201"},
		{name: "https to plain HTTP", web: plain, client: tlsClient, url: httpsURL, want: "serves plain HTTP: want http"},
		{name: "http to TLS", web: tlsWeb, client: tlsClient, url: httpURL, want: "serves TLS only: want https"},
		{name: "TLS by client CA alone", web: "tls_server_config:\n  client_ca_file: /x/ca.crt\n", client: tlsClient, url: httpURL, want: "want https"},
		{name: "TLS, no CA", web: tlsWeb, client: "tls_config:\n  server_name: pcp-remote-read-shard-a.pcp.svc\n", url: httpsURL, want: "no ca_file"},
		{name: "TLS, no server name", web: tlsWeb, client: "tls_config:\n  ca_file: /etc/pcp-remote-read/tls/ca.crt\n", url: httpsURL, want: "no server_name"},
		{name: "TLS, CA not mounted", web: tlsWeb, client: "tls_config:\n  ca_file: /etc/ssl/ca.crt\n  server_name: x\n", url: httpsURL, want: "tls_config.ca_file /etc/ssl/ca.crt: on no volume"},
		{name: "TLS, relative CA", web: tlsWeb, client: "tls_config:\n  ca_file: ca.crt\n  server_name: x\n", url: httpsURL, want: "tls_config.ca_file ca.crt: on no volume"},
		{name: "mutual TLS, no client certificate", web: mtlsWeb, client: tlsClient, url: httpsURL, want: "want the sidecar's cert_file and key_file"},
		{name: "basic auth, none sent", web: authWeb, client: noClient, url: httpURL, want: `username "" is no basic_auth_users`},
		{name: "basic auth, unknown user", web: authWeb, client: "basic_auth:\n  username: prometheus\n  password: x\n", url: httpURL, want: `username "prometheus" is no basic_auth_users`},
		{name: "basic auth, no password", web: authWeb, client: "basic_auth:\n  username: thanos\n", url: httpURL, want: "no password or password_file"},
		{name: "basic auth, password file not mounted", web: authWeb, client: "basic_auth:\n  username: thanos\n  password_file: /run/secrets/p\n", url: httpURL, want: "basic_auth.password_file /run/secrets/p: on no volume"},
		{name: "misspelt key", web: tlsWeb, client: "tls_confg:\n  insecure_skip_verify: true\n", url: httpsURL, want: `unknown field "tls_confg"`},
		{name: "misspelt nested key", web: tlsWeb, client: "tls_config:\n  insecure_skip_verfy: true\n", url: httpsURL, want: `unknown field "tls_config.insecure_skip_verfy"`},
		{name: "bad URL", web: plain, url: "http://[::1", want: "--prometheus.url=http://[::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := sidecarClientProblems(tc.web, tc.client, tc.url, sidecar, appPort)
			if tc.want == "" {
				if len(problems) > 0 {
					t.Errorf("problems %q, want none", problems)
				}
				return
			}
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("problems %q, want one containing %q", problems, tc.want)
		})
	}
	// Without the app's port (no port named http) nothing matches.
	if p := sidecarClientProblems(plain, "", httpURL, sidecar, 0); len(p) == 0 {
		t.Error("app port 0: no problem")
	}
}
