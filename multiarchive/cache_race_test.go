package multiarchive

import (
	"sync"
	"testing"
)

// TestCacheBytesUnderConcurrency loads more archives than the cache holds
// from several goroutines at once: the byte count must stay the sum of the
// cached archives', also when an archive is evicted while another
// goroutine is still loading it.
func TestCacheBytesUnderConcurrency(t *testing.T) {
	s, err := Open(Options{Paths: []string{"../testdata/archives"}})
	if err != nil {
		t.Fatal(err)
	}
	var es []*Entry
	for _, tl := range s.Hosts() {
		es = append(es, tl.Entries()...)
	}
	if len(es) < 4 {
		t.Fatalf("%d test archives, want at least 4", len(es))
	}
	c := newCache(2, 1<<40)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				if _, err := c.get(es[(g+i)%len(es)], false); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var sum int64
	for el := c.lru.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*cacheItem).bytes
	}
	if c.bytes != sum || c.lru.Len() > 2 {
		t.Fatalf("cache counts %d bytes in %d archives; they hold %d", c.bytes, c.lru.Len(), sum)
	}
}
