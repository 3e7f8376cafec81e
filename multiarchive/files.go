package multiarchive

import (
	"os"
	"strconv"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// currentFiles returns an archive's files as they are now, for revalidating
// the newest archive of a host on a query that reaches its end. It checks
// with a few stats that the files it knows are still there and that no next
// volume or index has appeared, and lists the directory (archive.FindFiles)
// only when something changed: listing pmlogger's directory of 10,000
// archives on every such query costs about 20 ms.
func currentFiles(f archive.Files) (archive.Files, error) {
	if unchanged(f) {
		return f, nil
	}
	files, err := archive.FindFiles(f.Base)
	files.XZ = f.XZ
	return files, err
}

// filePaths lists an archive's files: .meta and .index (those it has),
// and the volumes in order.
func filePaths(f archive.Files) []string {
	out := make([]string, 0, 2+len(f.Volumes))
	for _, p := range []string{f.Meta, f.Index} {
		if p != "" {
			out = append(out, p)
		}
	}
	for _, v := range f.Volumes {
		out = append(out, v.Path)
	}
	return out
}

func unchanged(f archive.Files) bool {
	if f.Meta == "" || len(f.Volumes) == 0 {
		return false
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	if !exists(f.Meta) {
		return false
	}
	if f.Index == "" && exists(f.Base+".index") || f.Index != "" && !exists(f.Index) {
		return false
	}
	for _, v := range f.Volumes {
		if !exists(v.Path) {
			return false
		}
	}
	// pmlogger numbers volumes one after another and writes them plain.
	return !exists(f.Base + "." + strconv.Itoa(f.Volumes[len(f.Volumes)-1].Num+1))
}
