package status

import (
	"bytes"
	"context"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// chromium runs Debian's headless Chromium (package chromium; $CHROMIUM
// names another) with args and the URL, and returns its standard output.
func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1400,1000",
	}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir) // no crash reports or caches in the real home
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func hexColor(s string) color.RGBA {
	var c color.RGBA
	for i, p := range []*uint8{&c.R, &c.G, &c.B} {
		v := 0
		for _, d := range s[1+2*i : 3+2*i] {
			v = v*16 + strings.IndexRune("0123456789abcdef", d)
		}
		*p = uint8(v)
	}
	c.A = 255
	return c
}

// The status page over the demo set, rendered by a real headless Chromium:
// demo-db1 with its tables built and a leftover archive overlapping
// 20261119.12.30, demo-web1 without tables. The screenshot must show the
// colours of the bars with and without a table, the prefix table, the
// overlap and the gap; the DOM Chromium built must hold the timelines.
// PCP_STATUS_SCREENSHOT=file.png keeps the screenshot.
func TestStatusPageChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	bin := os.Getenv("CHROMIUM")
	if bin == "" {
		bin, _ = exec.LookPath("chromium")
	}
	_, err := os.Stat(bin)
	pcptest.Require(t, "chromium (Debian package chromium)", bin != "" && err == nil)

	set := demoWithTables(t, copyDemo(t), "demo-db1")
	srv := httptest.NewServer(NewStatusHandler(set))
	defer srv.Close()
	url := srv.URL + "/status"

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, bin, "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if keep := os.Getenv("PCP_STATUS_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot in %s", keep)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 1000 {
		t.Fatalf("screenshot is %v, want 1400x1000", b)
	}

	// Pixels of each colour of the page's CSS. The legend shows each in a
	// 22x10 swatch: the timelines must have more than that.
	count := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			count[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}]++
		}
	}
	const swatch = 22 * 10
	for _, c := range []struct {
		what, hex string
		least     int
	}{
		{"bars with a column table", colComplete, 5000},
		{"the prefix table of the newest archive", colPrefix, 800},
		{"bars without a table (demo-web1)", colNone, 5000},
		{"the overlap band", colOverlap, 500},
		{"the gaps (20261119 11:59 to 12:30)", colGap, 300},
	} {
		if n := count[hexColor(c.hex)] - swatch; n < c.least {
			t.Errorf("%s (%s): %d pixels beside the legend, want at least %d", c.what, c.hex, n, c.least)
		} else {
			t.Logf("%s (%s): %d pixels", c.what, c.hex, n)
		}
	}

	dom := string(chromium(t, bin, "--dump-dom", url))
	tl := parseTimelines(t, dom)
	db, web := tl["demo-db1"], tl["demo-web1"]
	for _, c := range []struct {
		what  string
		els   []svgEl
		class []string
		want  int
	}{
		{"demo-db1 bars", db, []string{"archive"}, 5},
		{"demo-db1 bars with a table", db, []string{"archive", "has-table"}, 5},
		{"demo-db1 prefix table", db, []string{"archive", "has-table", "prefix"}, 1},
		{"demo-db1 overlapping bars", db, []string{"archive", "overlapping"}, 2},
		{"demo-db1 overlap", db, []string{"overlap"}, 1},
		{"demo-db1 gap", db, []string{"gap"}, 1},
		{"demo-web1 bars without a table", web, []string{"archive", "no-table"}, 4},
		{"demo-web1 gap", web, []string{"gap"}, 1},
		{"demo-web1 marks", web, []string{"marks"}, 1},
	} {
		if n := len(withClass(c.els, c.class...)); n != c.want {
			t.Errorf("DOM: %d %s, want %d", n, c.what, c.want)
		}
	}
	if !strings.Contains(dom, "Table builder: 0 builds queued or under way; 4 of 9 archives have no table yet") {
		t.Error("DOM lacks the table builder's state")
	}
	if strings.Contains(dom, "<script") {
		t.Error("the page has a script")
	}
}
