package pcptest

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Outcome is what a server must make of a damaged archive.
type Outcome int

const (
	// Skipped: refused when the paths are scanned, listed under "skipped"
	// in the status with the reason.
	Skipped Outcome = iota
	// Failed: discovered (its .meta label is fine), and reading it fails:
	// once a query reaches it, its archive has a "problem" in the status.
	Failed
	// Served: nothing tells it from a valid archive (a live one pmlogger is
	// still writing, an archive without index, a volume gap): it is served
	// as it is, with no report.
	Served
	// Exact: the damage is in a part a reader need not trust (the index):
	// every value of the undamaged archive is served.
	Exact
	// Any: random damage (byte flips) that may or may not be detectable;
	// the server must survive it and either serve or report the archive.
	Any
)

func (o Outcome) String() string {
	return [...]string{"skipped", "failed", "served", "exact", "any"}[o]
}

// Damaged is one damaged archive (or directory) made by MakeDamaged.
type Damaged struct {
	Name   string  // short case name
	What   string  // what was done to it
	Dir    string  // its own directory under MakeDamaged's dst
	Base   string  // the archive's base name (path)
	Host   string  // the host name in its labels: "bad-" + Name
	Source string  // the testdata archive it was made from (its dump is Source/oracle.jsonl.gz)
	Expect Outcome // what a server must do with it
	// Prefix: what is served of each series must be the start of what
	// libpcp reads from the undamaged archive (a volume cut short).
	Prefix bool
}

// Dump is the libpcp dump of the undamaged source archive.
func (d Damaged) Dump() string { return filepath.Join(d.Source, "oracle.jsonl.gz") }

// arcBytes is an archive held in memory: nil means the file is absent.
type arcBytes struct {
	version int
	meta    []byte
	index   []byte
	vols    map[int][]byte
}

func (a *arcBytes) clone() *arcBytes {
	c := &arcBytes{version: a.version, meta: clip(a.meta), index: clip(a.index), vols: map[int][]byte{}}
	for n, v := range a.vols {
		c.vols[n] = clip(v)
	}
	return c
}

func clip(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func labelLen(version int) int {
	if version == 3 {
		return 808
	}
	return 132
}

// hostField is where the host name lies in a label, and its size.
func hostField(version int) (off, size int) {
	if version == 3 {
		return 36, 256
	}
	return 24, 64
}

func setHost(b []byte, version int, host string) {
	if len(b) < labelLen(version) {
		return
	}
	off, size := hostField(version)
	f := b[off : off+size]
	clear(f)
	copy(f, host)
}

// rename gives every label of the archive another host name, so each
// damaged copy is a timeline (host) of its own.
func (a *arcBytes) rename(host string) {
	setHost(a.meta, a.version, host)
	setHost(a.index, a.version, host)
	for _, v := range a.vols {
		setHost(v, a.version, host)
	}
}

func loadArchive(t testing.TB, src string) *arcBytes {
	t.Helper()
	name := filepath.Base(src)
	base := filepath.Join(src, name)
	a := &arcBytes{vols: map[int][]byte{}}
	var err error
	if a.meta, err = os.ReadFile(base + ".meta"); err != nil {
		t.Fatalf("damage: %v (sources must be uncompressed)", err)
	}
	a.version = int(binary.BigEndian.Uint32(a.meta[4:]) & 0xff)
	if a.index, err = os.ReadFile(base + ".index"); err != nil {
		a.index = nil
	}
	for n := 0; ; n++ {
		b, err := os.ReadFile(base + "." + strconv.Itoa(n))
		if err != nil {
			break
		}
		a.vols[n] = b
	}
	if len(a.vols) == 0 {
		t.Fatalf("damage: %s has no volumes", base)
	}
	return a
}

func (a *arcBytes) write(t testing.TB, base string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(p string, b []byte) {
		if b == nil {
			return
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(base+".meta", a.meta)
	put(base+".index", a.index)
	for n, v := range a.vols {
		put(base+"."+strconv.Itoa(n), v)
	}
}

// record is one framed record of a .meta file or data volume.
type record struct {
	off, len int
	typ      uint32 // .meta record type; 0 in volumes
}

// records walks the framed records after the label.
func records(b []byte, version int, meta bool) []record {
	var out []record
	for off := labelLen(version); off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n < 8 || off+n > len(b) {
			break
		}
		r := record{off: off, len: n}
		if meta {
			r.typ = binary.BigEndian.Uint32(b[off+4:])
		}
		out = append(out, r)
		off += n
	}
	return out
}

func put32(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }

// valueSet is where one value set of a data record lies.
type valueSet struct {
	off    int // of its pmid word, in the volume
	numval int32
	valfmt uint32
}

// sets decodes the value-set headers of a data record.
func sets(b []byte, r record, version int) (numpmidOff int, out []valueSet) {
	hdr := 12
	if version == 3 {
		hdr = 16
	}
	numpmidOff = r.off + hdr
	n := int(int32(binary.BigEndian.Uint32(b[numpmidOff:])))
	p := numpmidOff + 4
	for i := 0; i < n && p+8 <= r.off+r.len-4; i++ {
		vs := valueSet{off: p, numval: int32(binary.BigEndian.Uint32(b[p+4:]))}
		p += 8
		if vs.numval > 0 {
			vs.valfmt = binary.BigEndian.Uint32(b[p:])
			p += 4 + 8*int(vs.numval)
		}
		out = append(out, vs)
	}
	return numpmidOff, out
}

// MakeDamaged writes damaged copies of testdata archives into dst, each in
// its own directory and (where its labels can be read) under a host name
// of its own, "bad-<case>". Damage that needs privileges root does not
// have (unreadable files) is not made here; see MakeUnreadable.
func MakeDamaged(t testing.TB, dst string) []Damaged {
	t.Helper()
	root := filepath.Join(RepoRoot(t), "testdata", "archives")
	srcV2 := filepath.Join(root, "v2-basic")
	srcV3 := filepath.Join(root, "v3-basic")
	srcMV := filepath.Join(root, "v3-multivol")
	v2, v3, mv := loadArchive(t, srcV2), loadArchive(t, srcV3), loadArchive(t, srcMV)

	var out []Damaged
	add := func(name, what, src string, from *arcBytes, expect Outcome, damage func(a *arcBytes)) {
		a := from.clone()
		host := "bad-" + name
		a.rename(host)
		damage(a)
		dir := filepath.Join(dst, name)
		base := filepath.Join(dir, name)
		a.write(t, base)
		out = append(out, Damaged{Name: name, What: what, Dir: dir, Base: base, Host: host, Source: src, Expect: expect})
	}
	for _, s := range []struct {
		v    string
		src  string
		from *arcBytes
	}{{"v2", srcV2, v2}, {"v3", srcV3, v3}} {
		ll := labelLen(s.from.version)
		mrecs := records(s.from.meta, s.from.version, true)
		drecs := records(s.from.vols[0], s.from.version, false)
		if len(mrecs) < 12 || len(drecs) < 10 {
			t.Fatalf("damage: %s too small (%d meta, %d data records)", s.src, len(mrecs), len(drecs))
		}
		firstOf := func(typs ...uint32) record {
			for _, r := range mrecs {
				for _, ty := range typs {
					if r.typ == ty {
						return r
					}
				}
			}
			t.Fatalf("damage: %s has no .meta record of type %v", s.src, typs)
			return record{}
		}
		desc := firstOf(1)
		indom := firstOf(2, 5)
		stamp := 8
		if s.from.version == 3 {
			stamp = 12
		}
		// A data record with a DPTR value set (64-bit and string values).
		dptrRec, dptrSet := -1, valueSet{}
		for i, r := range drecs {
			_, vss := sets(s.from.vols[0], r, s.from.version)
			for _, vs := range vss {
				if vs.numval > 0 && vs.valfmt == 1 {
					dptrRec, dptrSet = i, vs
					break
				}
			}
			if dptrRec >= 0 && i > 2 {
				break
			}
		}
		if dptrRec < 0 {
			t.Fatalf("damage: %s has no DPTR value", s.src)
		}
		mid := drecs[len(drecs)/2]
		v := s.v
		src, from := s.src, s.from

		add(v+"-ok", "undamaged copy (control)", src, from, Exact, func(a *arcBytes) {})

		// .meta
		add(v+"-meta-empty", "zero-length .meta", src, from, Skipped, func(a *arcBytes) { a.meta = []byte{} })
		add(v+"-meta-missing", "no .meta (volume and index only)", src, from, Skipped, func(a *arcBytes) { a.meta = nil })
		add(v+"-meta-label-cut", ".meta cut inside its label", src, from, Skipped, func(a *arcBytes) { a.meta = a.meta[:ll/2] })
		add(v+"-meta-magic", ".meta label with a wrong magic number", src, from, Skipped, func(a *arcBytes) { put32(a.meta, 4, 0x50052699) })
		add(v+"-meta-label-len", ".meta label length word 2^31", src, from, Skipped, func(a *arcBytes) { put32(a.meta, 0, 1<<31) })
		add(v+"-meta-label-only", ".meta holding only its label (what pmlogger leaves before its first write)", src, from, Served, func(a *arcBytes) { a.meta = a.meta[:ll] })
		add(v+"-meta-cut-boundary", ".meta cut at a record boundary (metadata of some metrics missing)", src, from, Served, func(a *arcBytes) { a.meta = a.meta[:mrecs[6].off] })
		add(v+"-meta-cut-mid", ".meta cut in the middle of a record", src, from, Served, func(a *arcBytes) { a.meta = a.meta[:mrecs[6].off+mrecs[6].len/2] })
		add(v+"-meta-len-0", ".meta record with length 0", src, from, Failed, func(a *arcBytes) { put32(a.meta, mrecs[3].off, 0) })
		add(v+"-meta-len-2g", ".meta record with length 2^31 (runs past the end: taken for a record pmlogger is writing)", src, from, Served, func(a *arcBytes) { put32(a.meta, mrecs[3].off, 1<<31) })
		add(v+"-meta-trailer", ".meta record whose trailer differs from its header", src, from, Failed, func(a *arcBytes) {
			r := mrecs[3]
			put32(a.meta, r.off+r.len-4, uint32(r.len+4))
		})
		add(v+"-meta-type", ".meta record of an unknown type", src, from, Failed, func(a *arcBytes) { put32(a.meta, mrecs[3].off+4, 99) })
		add(v+"-desc-names", "DESC with 2^31-1 names", src, from, Failed, func(a *arcBytes) { put32(a.meta, desc.off+28, 0x7fffffff) })
		add(v+"-desc-namelen", "DESC name length 2^31", src, from, Failed, func(a *arcBytes) { put32(a.meta, desc.off+32, 1<<31) })
		numinst := indom.off + 8 + stamp + 4
		add(v+"-indom-negative", "instance domain with numinst -1", src, from, Failed, func(a *arcBytes) { put32(a.meta, numinst, 0xffffffff) })
		add(v+"-indom-huge", "instance domain with numinst 2^30", src, from, Failed, func(a *arcBytes) { put32(a.meta, numinst, 1<<30) })
		add(v+"-indom-nonul", "instance domain whose last name has no NUL", src, from, Failed, func(a *arcBytes) {
			end := indom.off + indom.len - 4 // the table ends before the trailer
			for end > 0 && a.meta[end-1] != 0 {
				end-- // pmlogger pads nothing, but be safe
			}
			a.meta[end-1] = 'x'
		})
		add(v+"-indom-stridx", "instance domain name offset outside the string table", src, from, Failed, func(a *arcBytes) {
			n := int(binary.BigEndian.Uint32(from.meta[numinst:]))
			put32(a.meta, numinst+4+4*n, 0x00ffffff)
		})

		// .index
		add(v+"-index-missing", "no .index", src, from, Exact, func(a *arcBytes) { a.index = nil })
		add(v+"-index-empty", "zero-length .index", src, from, Exact, func(a *arcBytes) { a.index = []byte{} })
		add(v+"-index-cut", ".index cut inside an entry", src, from, Exact, func(a *arcBytes) { a.index = a.index[:len(a.index)-5] })
		add(v+"-index-magic", ".index label with a wrong magic number", src, from, Exact, func(a *arcBytes) { put32(a.index, 4, 0x12345678) })
		add(v+"-index-garbage", ".index entries with offsets and volumes out of range", src, from, Exact, func(a *arcBytes) {
			es := 20
			if a.version == 3 {
				es = 32
			}
			rng := rand.New(rand.NewSource(7))
			for off := ll; off+es <= len(a.index); off += es {
				for i := stamp; i < es; i++ { // keep the times, garble the rest
					a.index[off+i] = byte(rng.Intn(256))
				}
			}
		})

		// data volume
		add(v+"-vol-empty", "zero-length data volume", src, from, Failed, func(a *arcBytes) { a.vols[0] = []byte{} })
		add(v+"-vol-missing", "no data volume", src, from, Skipped, func(a *arcBytes) { delete(a.vols, 0) })
		add(v+"-vol-label-cut", "data volume cut inside its label", src, from, Failed, func(a *arcBytes) { a.vols[0] = a.vols[0][:ll/2] })
		add(v+"-vol-magic", "data volume label with a wrong magic number", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], 4, 0x50052699) })
		add(v+"-vol-label-only", "data volume holding only its label", src, from, Served, func(a *arcBytes) { a.vols[0] = a.vols[0][:ll] })
		add(v+"-vol-cut-boundary", "data volume cut at a record boundary", src, from, Served, func(a *arcBytes) { a.vols[0] = a.vols[0][:mid.off] })
		add(v+"-vol-cut-mid", "data volume cut in the middle of a record (a live archive's tail)", src, from, Served, func(a *arcBytes) { a.vols[0] = a.vols[0][:mid.off+mid.len/2+2] })
		add(v+"-vol-host", "data volume of another host", src, from, Failed, func(a *arcBytes) { setHost(a.vols[0], a.version, "elsewhere") })
		add(v+"-rec-len-0", "data record with length 0", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], mid.off, 0) })
		add(v+"-rec-len-2g", "data record with length 2^31 in the newest volume (runs past the end: taken for a record pmlogger is writing)", src, from, Served, func(a *arcBytes) { put32(a.vols[0], mid.off, 1<<31) })
		add(v+"-rec-len-odd", "data record with a length not a multiple of 4", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], mid.off, uint32(mid.len-2)) })
		add(v+"-rec-trailer", "data record whose trailer differs from its header", src, from, Failed, func(a *arcBytes) {
			put32(a.vols[0], mid.off+mid.len-4, uint32(mid.len+8))
		})
		npOff, _ := sets(from.vols[0], mid, from.version)
		add(v+"-rec-numpmid-neg", "data record with numpmid -5", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], npOff, 0xfffffffb) })
		add(v+"-rec-numpmid-huge", "data record with numpmid 2^30", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], npOff, 1<<30) })
		add(v+"-rec-numval-huge", "value set with numval 2^30", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], dptrSet.off+4, 1<<30) })
		add(v+"-rec-valfmt", "value set with valfmt 7", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], dptrSet.off+8, 7) })
		add(v+"-rec-dptr-out", "DPTR offset past the end of its record", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], dptrSet.off+16, 0x00100000) })
		add(v+"-rec-dptr-hdr", "DPTR offset into the record header", src, from, Failed, func(a *arcBytes) { put32(a.vols[0], dptrSet.off+16, 1) })
		add(v+"-rec-vlen", "value block length 2^24-1", src, from, Failed, func(a *arcBytes) {
			b := a.vols[0]
			r := drecs[dptrRec]
			blk := r.off + 4*int(binary.BigEndian.Uint32(b[dptrSet.off+16:])) - 8
			put32(b, blk, binary.BigEndian.Uint32(b[blk:])|0x00ffffff)
		})

		// Files that disagree.
		other := v3
		if from.version == 3 {
			other = v2
		}
		add(v+"-vol-version", fmt.Sprintf("v%d .meta with a v%d data volume", from.version, other.version), src, from, Failed, func(a *arcBytes) {
			o := other.clone()
			o.rename("bad-" + v + "-vol-version")
			a.vols[0] = o.vols[0]
		})
		add(v+"-index-version", fmt.Sprintf("v%d .meta with a v%d .index", from.version, other.version), src, from, Exact, func(a *arcBytes) {
			o := other.clone()
			o.rename("bad-" + v + "-index-version")
			a.index = o.index
		})

		// Cut at every record boundary and inside every record. A cut
		// volume is what a live archive looks like: served up to the cut.
		if from.version == 3 {
			for i, r := range drecs {
				add(fmt.Sprintf("%s-vol-cut-at-%02d", v, i), fmt.Sprintf("data volume cut before record %d", i), src, from, Served, func(a *arcBytes) { a.vols[0] = a.vols[0][:r.off] })
				out[len(out)-1].Prefix = true
				add(fmt.Sprintf("%s-vol-torn-%02d", v, i), fmt.Sprintf("data volume cut inside record %d", i), src, from, Served, func(a *arcBytes) { a.vols[0] = a.vols[0][:r.off+r.len/2] })
				out[len(out)-1].Prefix = true
			}
			for i, r := range mrecs {
				add(fmt.Sprintf("%s-meta-cut-at-%03d", v, i), fmt.Sprintf(".meta cut before record %d", i), src, from, Served, func(a *arcBytes) { a.meta = a.meta[:r.off] })
			}
		}

		// Random damage, reproducible.
		for i := range 4 {
			add(fmt.Sprintf("%s-flip-meta-%d", v, i), "8 random bytes of .meta flipped", src, from, Any, func(a *arcBytes) { flip(a.meta, ll, int64(i), 8) })
			add(fmt.Sprintf("%s-flip-vol-%d", v, i), "8 random bytes of the data volume flipped", src, from, Any, func(a *arcBytes) { flip(a.vols[0], ll, int64(100+i), 8) })
		}
	}

	// Multi-volume archives.
	mvl := labelLen(mv.version)
	mrec := records(mv.vols[1], mv.version, false)
	add("mv-ok", "undamaged copy (control)", srcMV, mv, Exact, func(a *arcBytes) {})
	add("mv-vol-gap", "a middle volume missing (volume numbers may have gaps)", srcMV, mv, Served, func(a *arcBytes) { delete(a.vols, 2) })
	add("mv-vol-empty", "a zero-length middle volume", srcMV, mv, Failed, func(a *arcBytes) { a.vols[2] = []byte{} })
	add("mv-vol-cut-mid", "a middle volume cut inside a record", srcMV, mv, Failed, func(a *arcBytes) {
		r := mrec[len(mrec)/2]
		a.vols[1] = a.vols[1][:r.off+r.len/2]
	})
	add("mv-vol-label-cut", "a middle volume cut inside its label", srcMV, mv, Failed, func(a *arcBytes) { a.vols[1] = a.vols[1][:mvl-4] })
	add("mv-vol-number", "a volume whose label names another volume number", srcMV, mv, Failed, func(a *arcBytes) {
		off := 20
		if a.version == 3 {
			off = 24
		}
		put32(a.vols[3], off, 9)
	})
	return out
}

// flip XORs n random bytes of b after skip with random non-zero masks.
func flip(b []byte, skip int, seed int64, n int) {
	rng := rand.New(rand.NewSource(seed))
	for range n {
		i := skip + rng.Intn(len(b)-skip)
		b[i] ^= byte(1 + rng.Intn(255))
	}
}

// Strange is a path in the tree made by MakeStrange, and what a scan must
// report for it.
type Strange struct {
	Name   string
	What   string
	Path   string // as a scan names it in the status
	Expect Outcome
}

// MakeStrange makes file-system oddities in dst: symbolic-link loops, a
// dangling link, a link to /dev/zero and a FIFO named like archive files, a
// directory named like a .meta. A good archive (renamed to host
// "strange-ok", a copy of testdata/archives/v3-basic) sits among them,
// also reached once more through a link, and must be served exactly.
func MakeStrange(t testing.TB, dst string) []Strange {
	t.Helper()
	src := filepath.Join(RepoRoot(t), "testdata", "archives", "v3-basic")
	a := loadArchive(t, src)
	a.rename("strange-ok")
	a.write(t, filepath.Join(dst, "ok", "strange-ok"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []Strange
	loops := filepath.Join(dst, "loops")
	must(os.MkdirAll(filepath.Join(loops, "a"), 0o755))
	must(os.Symlink(".", filepath.Join(loops, "self")))
	must(os.Symlink("..", filepath.Join(loops, "a", "up")))
	// The good archive once more through a link: the same data twice.
	must(os.Symlink("../../ok", filepath.Join(loops, "a", "ok-again")))
	out = append(out,
		Strange{"loop-self", "a link to its own directory", filepath.Join(loops, "self"), Skipped},
		Strange{"loop-up", "a link to the parent directory", filepath.Join(loops, "a", "up"), Skipped},
	)
	odd := filepath.Join(dst, "odd")
	must(os.MkdirAll(odd, 0o755))
	must(os.Symlink("elsewhere.meta", filepath.Join(odd, "dangling.meta")))
	must(os.WriteFile(filepath.Join(odd, "dangling.0"), a.vols[0], 0o644))
	must(os.Symlink("selfloop.meta", filepath.Join(odd, "selfloop.meta")))
	must(os.WriteFile(filepath.Join(odd, "selfloop.0"), a.vols[0], 0o644))
	must(os.Symlink("/dev/zero", filepath.Join(odd, "zero.meta")))
	must(os.Symlink("/dev/zero", filepath.Join(odd, "zero.0")))
	must(os.Mkdir(filepath.Join(odd, "dir.meta"), 0o755))
	must(os.WriteFile(filepath.Join(odd, "dir.0"), a.vols[0], 0o644))
	out = append(out,
		Strange{"dangling", "a .meta link to nothing", filepath.Join(odd, "dangling"), Skipped},
		Strange{"selfloop", "a .meta link to itself", filepath.Join(odd, "selfloop"), Skipped},
		Strange{"dev-zero", ".meta and volume linked to /dev/zero", filepath.Join(odd, "zero"), Skipped},
		Strange{"dir-meta", "a directory named like a .meta", filepath.Join(odd, "dir"), Skipped},
	)
	if err := mkfifo(filepath.Join(odd, "fifo.meta")); err == nil {
		must(os.WriteFile(filepath.Join(odd, "fifo.0"), a.vols[0], 0o644))
		out = append(out, Strange{"fifo", "a FIFO named like a .meta", filepath.Join(odd, "fifo"), Skipped})
	}
	return out
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// MakeUnreadable writes archives (renamed to host "bad-<case>") whose files
// or directories a server running as an ordinary user cannot read. Root
// reads them anyway (CAP_DAC_OVERRIDE), so run the server unprivileged (see
// Unprivileged) to test them.
func MakeUnreadable(t testing.TB, dst string) []Damaged {
	t.Helper()
	src := filepath.Join(RepoRoot(t), "testdata", "archives", "v3-basic")
	from := loadArchive(t, src)
	var out []Damaged
	add := func(name, what string, expect Outcome, dirMode os.FileMode, mode map[string]os.FileMode) {
		a := from.clone()
		host := "bad-" + name
		a.rename(host)
		dir := filepath.Join(dst, name)
		base := filepath.Join(dir, name)
		a.write(t, base)
		for suffix, m := range mode {
			if err := os.Chmod(base+suffix, m); err != nil {
				t.Fatal(err)
			}
		}
		if dirMode != 0 {
			if err := os.Chmod(dir, dirMode); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) }) // so TempDir can remove it
		}
		out = append(out, Damaged{Name: name, What: what, Dir: dir, Base: base, Host: host, Source: src, Expect: expect})
	}
	add("ok", "readable copy (control)", Exact, 0, nil)
	add("perm-meta", ".meta mode 000", Skipped, 0, map[string]os.FileMode{".meta": 0})
	add("perm-vol", "data volume mode 000", Failed, 0, map[string]os.FileMode{".0": 0})
	add("perm-index", ".index mode 000", Exact, 0, map[string]os.FileMode{".index": 0})
	add("perm-dir-noexec", "directory mode 644 (names listed, files not reachable)", Skipped, 0o644, nil)
	add("perm-dir-none", "directory mode 100 (not listable)", Skipped, 0o100, nil)
	return out
}
