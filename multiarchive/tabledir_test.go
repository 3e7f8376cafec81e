package multiarchive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A table directory that cannot be written disables tables at Open, says
// why in Status, and leaves the archives served.
func TestTableDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "sub") // fails even as root
	s, err := Open(Options{Paths: []string{"../testdata/archives/v3-basic"}, TableDir: dir, TableSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Status().Tables
	if st.Dir != dir || !strings.Contains(st.Problem, "not a directory") {
		t.Errorf("tables %+v, want the directory and why it is unusable", st)
	}
	if s.tables != nil {
		t.Error("tables enabled on an unusable directory")
	}
	if len(s.Hosts()) != 1 {
		t.Errorf("hosts %v, want the archive served", s.Hosts())
	}
}

// A usable directory is created, with nothing left in it by the check.
func TestTableDirCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(Options{Paths: []string{"../testdata/archives/v3-basic"}, TableDir: dir, TableSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := s.Status().Tables.Problem; p != "" || s.tables == nil {
		t.Errorf("problem %q, tables %v", p, s.tables)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Errorf("table directory: %v, %v", ents, err)
	}
	if p := (&Set{}).tableStats().Problem; p != "" {
		t.Errorf("no table directory: problem %q", p)
	}
}
