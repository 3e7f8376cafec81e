package multiarchive

import (
	"container/list"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// cache keeps recently used archives' metadata in memory (the design's
// option 3: labels at startup, metadata when first needed, a small LRU).
// It holds no file descriptors: readers open one volume at a time.
type cache struct {
	mu       sync.Mutex
	maxN     int
	maxBytes int64
	bytes    int64
	lru      *list.List // of *cacheItem, most recent first
	items    map[string]*list.Element

	hits, misses, evictions uint64
}

type cacheItem struct {
	base  string
	ready chan struct{} // closed once loaded
	a     *archive.Archive
	err   error
	sig   signature
	bytes int64
}

// signature tells whether an archive changed on disk since it was loaded:
// pmlogger appends metadata and starts new volumes.
type signature struct {
	metaSize  int64
	metaMtime time.Time
	files     string // every file's path: volumes are added and compressed
}

func signatureOf(f archive.Files) signature {
	s := signature{files: filesKey(f)}
	if fi, err := os.Stat(f.Meta); err == nil {
		s.metaSize, s.metaMtime = fi.Size(), fi.ModTime()
	}
	return s
}

// filesKey is the list of an archive's files as one string.
func filesKey(f archive.Files) string {
	var b strings.Builder
	b.WriteString(f.Meta)
	b.WriteByte(0)
	b.WriteString(f.Index)
	for _, v := range f.Volumes {
		b.WriteByte(0)
		b.WriteString(v.Path)
	}
	return b.String()
}

func newCache(n int, bytes int64) *cache {
	return &cache{maxN: n, maxBytes: bytes, lru: list.New(), items: map[string]*list.Element{}}
}

// get returns the loaded archive of an entry. With revalidate (a query
// reaches the growing end of a live archive) the files are checked for
// changes first and the archive reloaded if they changed.
func (c *cache) get(e *Entry, revalidate bool) (*archive.Archive, error) {
	files := e.Files
	var sig signature
	if revalidate {
		if f, err := currentFiles(e.Files); err == nil {
			files = f
		}
		sig = signatureOf(files)
	}
	c.mu.Lock()
	if el, ok := c.items[e.Files.Base]; ok {
		it := el.Value.(*cacheItem)
		c.mu.Unlock()
		<-it.ready
		// Without revalidation the entry's files, from the latest scan,
		// must still be those the archive was loaded from.
		if it.err == nil && (revalidate && it.sig == sig || !revalidate && it.sig.files == filesKey(files)) {
			c.mu.Lock()
			c.hits++
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return it.a, nil
		}
		c.mu.Lock()
		if cur, ok := c.items[e.Files.Base]; ok && cur == el {
			c.remove(el)
		}
	}
	c.misses++
	it := &cacheItem{base: e.Files.Base, ready: make(chan struct{})}
	el := c.lru.PushFront(it)
	c.items[it.base] = el
	c.mu.Unlock()

	if !revalidate {
		sig = signatureOf(files)
	}
	it.a, it.err = archive.OpenFiles(files)
	it.sig = sig
	close(it.ready)

	c.mu.Lock()
	defer c.mu.Unlock()
	if it.err != nil {
		// Do not cache failures: the file may be being rewritten.
		if cur, ok := c.items[it.base]; ok && cur == el {
			c.remove(el)
		}
		return nil, it.err
	}
	// Count the bytes under the lock (remove reads it.bytes under it), and
	// only while the item is still in the cache: another get may have
	// evicted it while it loaded, and counting an evicted item would make
	// c.bytes drift up until the cache held one archive.
	if cur, ok := c.items[it.base]; ok && cur == el {
		it.bytes = max(sig.metaSize, 1)
		c.bytes += it.bytes
	}
	for c.lru.Len() > 1 && (c.lru.Len() > c.maxN || c.bytes > c.maxBytes) {
		c.evictions++
		c.remove(c.lru.Back())
	}
	return it.a, nil
}

func (c *cache) remove(el *list.Element) {
	it := el.Value.(*cacheItem)
	c.lru.Remove(el)
	delete(c.items, it.base)
	c.bytes -= it.bytes
}

func (c *cache) drop(base string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[base]; ok {
		c.remove(el)
	}
}

// CacheStats are the cache's figures for /metrics and the status page.
type CacheStats struct {
	Archives  int    `json:"archives"`
	Bytes     int64  `json:"bytes"`
	Hits      uint64 `json:"hits"`
	Misses    uint64 `json:"misses"`
	Evictions uint64 `json:"evictions"`
}

func (c *cache) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Archives: c.lru.Len(), Bytes: c.bytes, Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
