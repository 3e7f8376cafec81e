package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
)

// Files names the files of one archive on disk.
type Files struct {
	Base    string       // path without suffix, e.g. /var/log/pcp/pmlogger/h/20250101
	Meta    string       // path of .meta (possibly compressed)
	Index   string       // path of .index, "" if there is none
	Volumes []VolumeFile // data volumes in numeric order; numbers may have gaps

	// XZ reads the archive's multi-block .xz files: its Options bound
	// the blocks decoded in the background, and its pool of block buffers
	// is shared, by all the archives given the same Decoder; the limits
	// belong to whoever opens the archives (multiarchive's Set makes one
	// for its archives). Nil reads each file with a decoder of its own and
	// no background decoding. FindFiles and FilesFromNames leave it nil;
	// Refresh keeps it. It rides on Files because Files reaches every way
	// in (OpenFiles, Probe, ScanTail, and an Archive's Readers).
	XZ *xz.Decoder
}

// VolumeFile is one data volume.
type VolumeFile struct {
	Num  int
	Path string
}

// BaseName strips a file name of an archive back to the archive's base name,
// like libpcp's __pmLogBaseName: "foo.meta.xz", "foo.0", "foo.index" -> "foo".
// A name that is already a base name is returned unchanged.
func BaseName(name string) string {
	b, _ := SplitCompress(name)
	dir, file := filepath.Split(b)
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		ext := file[i+1:]
		if ext == "meta" || ext == "index" || isDigits(ext) {
			return dir + file[:i]
		}
	}
	return name
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FindFiles locates the files of the archive named by a base name or by any
// of its files.
func FindFiles(name string) (Files, error) {
	// A base name may itself end in ".NN" (20190628.04.03): it is a base
	// name when a .meta exists for it.
	base := name
	if !hasMeta(name) {
		base = BaseName(name)
	}
	dir, prefix := filepath.Split(base)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Files{}, err
	}
	names := make([]string, 0, 8)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+".") {
			names = append(names, e.Name())
		}
	}
	return filesFromNames(base, dir, prefix, names)
}

// FilesFromNames is FindFiles for a caller that has already listed the
// directory: names are the directory's entries (any order).
func FilesFromNames(dir, base string, names []string) (Files, error) {
	prefix := base + "."
	mine := make([]string, 0, 8)
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			mine = append(mine, n)
		}
	}
	return filesFromNames(filepath.Join(dir, base), dir, base, mine)
}

// filesFromNames picks an archive's files from the names in its directory.
// When both a plain and a compressed copy of one file exist (pmlogger_daily is
// compressing it right now), the plain one is complete and is preferred.
func filesFromNames(base, dir, prefix string, names []string) (Files, error) {
	f := Files{Base: base}
	vols := map[int]string{}
	metaRank, indexRank := 99, 99
	for _, n := range names {
		rest, suffix := SplitCompress(n[len(prefix)+1:])
		rank := 0
		if suffix != "" {
			rank = 1
		}
		p := filepath.Join(dir, n)
		switch {
		case rest == "meta":
			if rank < metaRank {
				f.Meta, metaRank = p, rank
			}
		case rest == "index":
			if rank < indexRank {
				f.Index, indexRank = p, rank
			}
		case isDigits(rest):
			num, err := strconv.Atoi(rest)
			if err != nil || num > 1<<30 {
				continue
			}
			if old, ok := vols[num]; !ok || (suffix == "" && old != p && isCompressed(old)) {
				vols[num] = p
			}
		}
	}
	if f.Meta == "" {
		return f, fmt.Errorf("%s: no .meta file for this archive", base)
	}
	for num, p := range vols {
		f.Volumes = append(f.Volumes, VolumeFile{Num: num, Path: p})
	}
	sort.Slice(f.Volumes, func(i, j int) bool { return f.Volumes[i].Num < f.Volumes[j].Num })
	if len(f.Volumes) == 0 {
		return f, fmt.Errorf("%s: no data volumes for this archive", base)
	}
	return f, nil
}

func hasMeta(base string) bool {
	m, _ := filepath.Glob(globEscape(base) + ".meta*")
	for _, p := range m {
		if b, _ := SplitCompress(p); b == base+".meta" {
			return true
		}
	}
	return false
}

// globEscape quotes the glob metacharacters in a path.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c == '*' || c == '?' || c == '[' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isCompressed(p string) bool {
	_, s := SplitCompress(p)
	return s != ""
}
