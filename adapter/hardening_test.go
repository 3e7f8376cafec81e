package adapter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheckQueryText(t *testing.T) {
	hosts := make([]string, 2000)
	for i := range hosts {
		hosts[i] = "host-" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
	}
	alternation := strings.Join(hosts, "|")
	nasty := strings.Repeat("[a-z]?", 1000)
	for _, c := range []struct {
		name string
		q    string
		ok   bool
	}{
		{"dashboard query", `sum by (hostname) (rate(disk_dev_read_bytes{hostname=~"$host", instname!~"loop.*"}[5m])) / 1024`, true},
		{"nesting 500", strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), true},
		{"nesting 2000", strings.Repeat("(", 2000) + "1" + strings.Repeat(")", 2000), false},
		{"function nesting", strings.Repeat("abs(", 1500) + "x" + strings.Repeat(")", 1500), false},
		{"operator chain", strings.Repeat("x + ", 1200) + "x", false},
		{"and chain", strings.Repeat("x and ", 1200) + "x", false},
		{"brackets in strings do not count", `x{a="` + strings.Repeat("((((", 5000) + `"}`, true},
		{"comment does not count", "x # " + strings.Repeat("+", 5000) + "\n", true},
		{"unterminated string", `x{a="` + strings.Repeat("(", 5000), true},
		{"large literal alternation", `x{hostname=~"` + alternation + `"}`, true},
		{"large regex", `x{hostname=~"` + nasty + `"}`, false},
		{"large regex, single quotes", `x{hostname!~'` + nasty + `'}`, false},
		{"large regex, raw string", "x{hostname=~`" + nasty + "`}", false},
		{"large regex in label_replace", `label_replace(x, "a", "$1", "b", "` + nasty + `")`, false},
		{"large equality value", `x{path="` + nasty + `"}`, true},
	} {
		err := CheckQueryText(c.q)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", c.name, err, c.ok)
		}
	}
}

func TestLiteralAlternation(t *testing.T) {
	for re, want := range map[string]bool{
		"a|b|c":                true,
		"(web|db)-[0-9]":       true,
		"(?i)host1|host2":      true,
		"":                     true,
		"a.*":                  false,
		"a+|b":                 false,
		"(a|b)?":               false,
		"x{2,5}":               false,
		"(":                    false,
		"host\\.example\\.com": true,
	} {
		if got := literalAlternation(re); got != want {
			t.Errorf("%q: %v, want %v", re, got, want)
		}
	}
}

// TestStallTimeoutKeepsFlushing checks that the middleware keeps what the
// streamed path needs: http.Flusher, ResponseController.Flush, and a
// response that arrives whole to a client that reads.
func TestStallTimeoutKeepsFlushing(t *testing.T) {
	chunk := strings.Repeat("x", 1<<20)
	h := WithStallTimeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("http.Flusher hidden")
		}
		b, err := io.ReadAll(r.Body)
		if err != nil || string(b) != "request" {
			t.Errorf("body %q, %v", b, err)
		}
		for range 4 {
			io.WriteString(w, chunk)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush: %v", err)
			}
		}
	}), time.Second)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("request"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 4<<20 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
}

// TestStallTimeoutLongHandler: a handler that works longer than the stall
// timeout before it writes (a long query) is not cut off, and neither is
// its request context.
func TestStallTimeoutLongHandler(t *testing.T) {
	h := WithStallTimeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-time.After(600 * time.Millisecond):
		case <-r.Context().Done():
			t.Error("request context canceled while working")
		}
		io.WriteString(w, "done")
	}), 200*time.Millisecond)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 2 { // twice on one connection: no deadline is left over
		resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "done" {
			t.Fatalf("%q, %v", b, err)
		}
	}
}
