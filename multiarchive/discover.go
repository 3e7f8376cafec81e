package multiarchive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// maxDepth bounds the directory walk: $PCP_ARCHIVE_DIR/<host>/<archives> is
// two levels; a little more allows site layouts such as <site>/<host>/.
const maxDepth = 4

// lockName is the file pmlogger_daily and pmlogger_check hold in an archive
// directory while they merge, rename and compress; the directory's archives
// are in flux until it goes.
const lockName = "lock"

// found is one archive seen by a scan.
type found struct {
	files archive.Files
	dir   string // directory the archive lives in
}

// Skipped is an archive (or path) that cannot be served, and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// scan expands the configured paths into archives. Paths may be comma
// lists, directories (walked), archive base names or any archive file.
// prev holds the previous scan's archives per directory: a directory with a
// lock file keeps its previous view.
func scan(paths []string, prev map[string][]found) (map[string][]found, []Skipped) {
	byDir := map[string][]found{}
	var skipped []Skipped
	seen := map[string]bool{} // archive base paths, so a name given twice counts once
	add := func(f found) {
		if !seen[f.files.Base] {
			seen[f.files.Base] = true
			byDir[f.dir] = append(byDir[f.dir], f)
		}
	}
	for _, p := range SplitPaths(paths) {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			walk(p, 0, map[fileID]bool{}, prev, add, &skipped)
			continue
		}
		files, ferr := archive.FindFiles(p)
		if ferr != nil {
			if namesNothing(p, err) {
				ferr = fmt.Errorf("no such file, directory or archive")
			}
			skipped = append(skipped, Skipped{Path: p, Reason: ferr.Error()})
			continue
		}
		add(found{files: files, dir: filepath.Dir(files.Base)})
	}
	return byDir, skipped
}

// SplitPaths expands the comma lists of Options.Paths into single paths,
// as Open reads them.
func SplitPaths(paths []string) []string {
	var out []string
	for _, list := range paths {
		for _, p := range strings.Split(list, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Missing returns the paths (comma lists expanded) that name nothing: no
// file or directory, nor the files of an archive of that base name. A
// directory without archives, or an archive that cannot be read, is not
// missing: scans report those.
func Missing(paths []string) []string {
	var out []string
	for _, p := range SplitPaths(paths) {
		if _, err := os.Stat(p); namesNothing(p, err) {
			out = append(out, p)
		}
	}
	return out
}

// namesNothing reports whether p, whose os.Stat gave statErr, is neither
// a file nor a directory nor an archive base name.
func namesNothing(p string, statErr error) bool {
	return statErr != nil && errors.Is(statErr, fs.ErrNotExist) && !hasArchiveFiles(p)
}

func hasArchiveFiles(base string) bool {
	m, _ := filepath.Glob(base + ".*")
	return len(m) > 0
}

type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

// walk finds archives in dir and its subdirectories, following symbolic
// links but never into a directory it is already inside (a link loop).
func walk(dir string, depth int, onPath map[fileID]bool, prev map[string][]found, add func(found), skipped *[]Skipped) {
	fi, err := os.Stat(dir)
	if err != nil {
		*skipped = append(*skipped, Skipped{Path: dir, Reason: err.Error()})
		return
	}
	if id, ok := idOf(fi); ok {
		if onPath[id] {
			*skipped = append(*skipped, Skipped{Path: dir, Reason: "directory loop (symbolic link to a parent), not followed"})
			return
		}
		onPath[id] = true
		defer delete(onPath, id)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		*skipped = append(*skipped, Skipped{Path: dir, Reason: err.Error()})
		return
	}
	locked := false
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
		if e.Name() == lockName {
			locked = true
		}
	}
	if old, ok := prev[dir]; locked && ok {
		for _, f := range old {
			add(f)
		}
	} else {
		// Give each archive only its own files' names: passing the whole
		// listing would make a scan quadratic in the archives of a directory
		// (1.2 s for 10,000 archives, at startup and every rescan).
		byBase := make(map[string][]string, len(names)/3+1)
		for _, n := range names {
			b := archive.BaseName(n)
			byBase[b] = append(byBase[b], n)
		}
		bases := archiveBases(names)
		for _, base := range bases {
			files, err := archive.FilesFromNames(dir, base, byBase[base])
			if err != nil {
				*skipped = append(*skipped, Skipped{Path: filepath.Join(dir, base), Reason: err.Error()})
				continue
			}
			add(found{files: files, dir: dir})
		}
		*skipped = append(*skipped, orphans(dir, bases, byBase)...)
	}
	if depth >= maxDepth {
		return
	}
	for _, e := range ents {
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			p := filepath.Join(dir, e.Name())
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				walk(p, depth+1, onPath, prev, add, skipped)
			}
		}
	}
}

// orphans reports the archive files (volumes, .index) of base names that
// have no .meta: without it nothing can be read, and a lost .meta should
// not go unnoticed.
func orphans(dir string, bases []string, byBase map[string][]string) []Skipped {
	var out []Skipped
	for base, names := range byBase {
		if _, ok := slices.BinarySearch(bases, base); ok || len(names) == 1 && names[0] == base {
			continue // an archive, or a file that is no archive file
		}
		out = append(out, Skipped{Path: filepath.Join(dir, base), Reason: fmt.Sprintf("archive files without a .meta file (%s)", strings.Join(names, ", "))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// archiveBases returns the base names of the archives among a directory's
// file names: one per .meta file (compressed or not), like libpcp's
// expansion of a directory in a multi-archive context.
func archiveBases(names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		b, _ := archive.SplitCompress(n)
		if strings.HasSuffix(b, ".meta") && len(b) > len(".meta") {
			base := strings.TrimSuffix(b, ".meta")
			if !seen[base] {
				seen[base] = true
				out = append(out, base)
			}
		}
	}
	sort.Strings(out)
	return out
}
