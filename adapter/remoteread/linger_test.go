package remoteread

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

// slowBody sends n bytes in 64 KiB pieces, pausing between them: a client
// on a slow link, still sending when the answer is ready.
type slowBody struct {
	n     int
	pause time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	time.Sleep(b.pause)
	k := min(len(p), 64<<10, b.n)
	clear(p[:k])
	b.n -= k
	return k, nil
}

// TestOversizedBodyGets413: a body over --remote-read.max-request-bytes
// gets the 413 and its message, not a connection reset, from a client
// that sends its whole request before it reads (as Python's http.client
// does), and sends it for longer than net/http's own half second of
// lingering; with and without a Content-Length, behind the stall timeout
// as the server runs it.
func TestOversizedBodyGets413(t *testing.T) {
	opts := adapter.DefaultReadOptions()
	opts.MaxRequestBytes = 1 << 20
	h, _ := newTestHandler(t, &fakeStorage{}, opts)
	srv := httptest.NewServer(adapter.WithStallTimeout(h, time.Minute))
	defer srv.Close()
	for _, withLength := range []bool{true, false} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		body := &slowBody{n: 4 << 20, pause: 15 * time.Millisecond}
		head := "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: " + ContentTypeSamples + "\r\nContent-Encoding: snappy\r\n"
		if withLength {
			head += fmt.Sprintf("Content-Length: %d\r\n\r\n", body.n)
		} else {
			head += "Transfer-Encoding: chunked\r\n\r\n"
		}
		_, err = io.WriteString(conn, head)
		buf := make([]byte, 64<<10)
		for err == nil {
			var n int
			if n, _ = body.Read(buf); n == 0 {
				break
			}
			if withLength {
				_, err = conn.Write(buf[:n])
			} else {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", n, buf[:n])
			}
		}
		if err == nil && !withLength {
			_, err = io.WriteString(conn, "0\r\n\r\n")
		}
		if err != nil {
			t.Errorf("length %v: sending: %v", withLength, err)
			conn.Close()
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("length %v: %v", withLength, err)
			conn.Close()
			continue
		}
		b, err := io.ReadAll(resp.Body)
		conn.Close()
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "exceeds the limit of 1048576 bytes") {
			t.Errorf("length %v: %d %q %v", withLength, resp.StatusCode, b, err)
		}
	}
}
