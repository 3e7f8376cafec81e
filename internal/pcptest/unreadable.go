package pcptest

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// UnreadableDemo is a copy of the demo set two archives of which become
// unreadable after the set was opened: the .meta of demo-db1's 20261118
// (the archive cannot be opened) and the data volume of its 20261119
// (found only while reading records). The errors policy (README,
// Grafana, Errors) is that such an archive is reported and skipped and the
// rest is served; the query API and remote read test it on this set.
type UnreadableDemo struct {
	Set       *multiarchive.Set
	Storage   *translate.Storage
	Logs      *LogBuffer
	Log       *slog.Logger
	Meta, Vol string // the files made unreadable
	// Start and End (RFC 3339) end before the newest archives' known
	// ends, so no query rescans the directory (which would skip the
	// broken archive instead).
	Start, End string
	// GoodFrom is where demo-db1's readable archives begin
	// (20261119.12.30).
	GoodFrom time.Time
}

// NewUnreadableDemo builds the set of UnreadableDemo in a temporary
// directory.
func NewUnreadableDemo(t *testing.T) *UnreadableDemo {
	t.Helper()
	dir := t.TempDir()
	CopyDemo(t, dir)
	logs := &LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	set := OpenSet(t, multiarchive.Options{Logger: log}, dir)
	u := &UnreadableDemo{
		Set:      set,
		Logs:     logs,
		Log:      log,
		Meta:     filepath.Join(dir, "demo-db1", "20261118.meta.xz"),
		Vol:      filepath.Join(dir, "demo-db1", "20261119.0.xz"),
		Start:    "2026-11-18T00:00:30Z",
		End:      "2026-11-20T06:00:30Z",
		GoodFrom: time.Date(2026, 11, 19, 12, 30, 0, 0, time.UTC),
	}
	unreadable(t, u.Meta)
	unreadable(t, u.Vol)
	u.Storage = translate.New(set, translate.Options{Logger: log})
	return u
}

// unreadable replaces an archive file by a directory of the same name:
// opening it fails with "not a regular file", even for root (chmod 000
// would not stop a test run as root).
func unreadable(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

// CheckProblems checks that both archives carry their problem on /status
// (and /metrics).
func (u *UnreadableDemo) CheckProblems(t *testing.T) {
	t.Helper()
	problems := map[string]string{}
	for _, h := range u.Set.Status().Hosts {
		for _, a := range h.Archives {
			if a.Problem != "" {
				problems[filepath.Base(a.Path)] = a.Problem
			}
		}
	}
	if len(problems) != 2 || !strings.Contains(problems["20261118"], u.Meta) || !strings.Contains(problems["20261119"], u.Vol) {
		t.Errorf("status problems %v, want 20261118 naming %s and 20261119 naming %s", problems, u.Meta, u.Vol)
	}
}
