package pmns_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/pmns"
)

// meta builds a v2 .meta file with one DESC record per desc.
func meta(t *testing.T, descs ...archive.Desc) *archive.Meta {
	t.Helper()
	be := binary.BigEndian
	b := make([]byte, 132)
	be.PutUint32(b, 132)
	be.PutUint32(b[4:], 0x50052602)
	be.PutUint32(b[20:], 0xffffffff) // vol -1: .meta
	copy(b[24:], "host")
	be.PutUint32(b[128:], 132)
	for _, d := range descs {
		var r []byte
		r = be.AppendUint32(r, 0) // length, set below
		r = be.AppendUint32(r, 1) // TYPE_DESC
		r = be.AppendUint32(r, uint32(d.PMID))
		r = be.AppendUint32(r, uint32(d.Type))
		r = be.AppendUint32(r, uint32(d.InDom))
		r = be.AppendUint32(r, uint32(d.Sem))
		r = be.AppendUint32(r, uint32(d.Units))
		r = be.AppendUint32(r, uint32(len(d.Names)))
		for _, n := range d.Names {
			r = be.AppendUint32(r, uint32(len(n)))
			r = append(r, n...)
		}
		r = be.AppendUint32(r, uint32(len(r)+4))
		be.PutUint32(r, uint32(len(r)))
		b = append(b, r...)
	}
	// An archive on disk: that .meta, and a data volume holding only its
	// label (volume 0).
	base := filepath.Join(t.TempDir(), "test")
	vol := append([]byte(nil), b[:132]...)
	be.PutUint32(vol[20:], 0)
	if err := os.WriteFile(base+".meta", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".0", vol, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	return a.Meta
}

func desc(pmid archive.PMID, typ archive.Type, units archive.Units, names ...string) archive.Desc {
	return archive.Desc{PMID: pmid, Type: typ, InDom: archive.InDomNull, Sem: archive.SemInstant, Units: units, Names: names}
}

func TestMergeKeepsFirstAndExcludesConflicts(t *testing.T) {
	a := meta(t, desc(1, archive.TypeU64, 0x10010000, "mem.used"), desc(2, archive.TypeFloat, 0, "kernel.all.load", "load.alias"))
	b := meta(t,
		desc(1, archive.TypeU64, 0x10000000, "mem.used"), // units Kbyte -> byte
		desc(2, archive.TypeFloat, 0, "kernel.all.load"),
		desc(3, archive.Type32, 0, "load.alias"), // name bound to another PMID
	)
	ns := pmns.New(pmns.Source{Name: "a", Meta: a}, pmns.Source{Name: "b", Meta: b})

	if d, _ := ns.Desc(1); d.Units != 0x10010000 {
		t.Errorf("metric 1 units %s, want the first archive's", d.Units)
	}
	if !ns.Excluded(1, 1) || ns.Excluded(0, 1) || ns.Excluded(1, 2) {
		t.Errorf("exclusions: a/1 %v b/1 %v b/2 %v", ns.Excluded(0, 1), ns.Excluded(1, 1), ns.Excluded(1, 2))
	}
	if len(ns.Conflicts) != 1 || !strings.Contains(ns.Conflicts[0].String(), "units changed") {
		t.Errorf("conflicts %v", ns.Conflicts)
	}
	if p, _ := ns.Lookup("load.alias"); p != 2 {
		t.Errorf("load.alias -> %s, want the first binding 0.0.2", p)
	}
	if len(ns.Duplicates) != 1 || ns.Duplicates[0].Name != "load.alias" {
		t.Errorf("duplicates %v", ns.Duplicates)
	}
	if got := ns.NamesOf(2); strings.Join(got, ",") != "kernel.all.load,load.alias" {
		t.Errorf("names of 2: %v", got)
	}
	if got := strings.Join(ns.Names(), ","); got != "kernel.all.load,load.alias,mem.used" {
		t.Errorf("names %s", got)
	}
}
