package multiarchive

import (
	"os"
	"path/filepath"
	"time"
)

// dirSettle is how long a directory must have been left alone before its
// modification time is trusted to tell that nothing was added, removed or
// renamed in it since: timestamps are coarse (and coarser on NFS).
const dirSettle = 2 * time.Second

// dirStamp is the modification time of the directory of a host's newest
// archive, taken before a scan read it.
type dirStamp struct {
	dir   string
	mtime time.Time
}

// stampNewestDirs stamps the directory of each host's newest archive.
// Hosts whose directory changed within dirSettle get no stamp.
func stampNewestDirs(hosts map[string]*Timeline) map[string]dirStamp {
	out := make(map[string]dirStamp, len(hosts))
	now := time.Now()
	for host, tl := range hosts {
		if n := len(tl.entries); n > 0 {
			dir := filepath.Dir(tl.entries[n-1].Files.Base)
			if fi, err := os.Stat(dir); err == nil && now.Sub(fi.ModTime()) >= dirSettle {
				out[host] = dirStamp{dir: dir, mtime: fi.ModTime()}
			}
		}
	}
	return out
}

// keepStamps drops the stamps of hosts whose newest archive is now in
// another directory (or that are gone).
func keepStamps(stamps map[string]dirStamp, hosts map[string]*Timeline) map[string]dirStamp {
	for host, st := range stamps {
		tl := hosts[host]
		if tl == nil || len(tl.entries) == 0 || filepath.Dir(tl.entries[len(tl.entries)-1].Files.Base) != st.dir {
			delete(stamps, host)
		}
	}
	return stamps
}

// unchanged reports whether nothing was added to, removed from or renamed
// in the directory since it was stamped: a query reaching past the end of
// the host's newest archive then needs no rescan of every configured path
// (55 ms for 10,000 archives) to learn that there is no newer archive.
// Growth of the newest archive is the cache's revalidation, not a rescan's.
func (st dirStamp) unchanged() bool {
	fi, err := os.Stat(st.dir)
	return err == nil && fi.ModTime().Equal(st.mtime)
}
