package pcptest

import (
	"sync"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// OpenSet opens a multiarchive.Set over opts.Paths and paths and closes it
// when the test ends; an error fails the test.
func OpenSet(t testing.TB, opts multiarchive.Options, paths ...string) *multiarchive.Set {
	t.Helper()
	set, err := openSet(opts, paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	return set
}

func openSet(opts multiarchive.Options, paths []string) (*multiarchive.Set, error) {
	opts.Paths = append(opts.Paths[:len(opts.Paths):len(opts.Paths)], paths...)
	return multiarchive.Open(opts)
}

// Storage is translate.New, with its default Options, over
// OpenSet(t, opts, paths...).
func Storage(t testing.TB, opts multiarchive.Options, paths ...string) *translate.Storage {
	t.Helper()
	return translate.New(OpenSet(t, opts, paths...), translate.Options{})
}

// SharedStorage returns a function that hands every caller the same
// Storage (translate's default Options) over opts.Paths and paths: opened
// on the first call and left open for the rest of the test binary, for
// tests that only read it. An error opening it fails every test that asks.
func SharedStorage(opts multiarchive.Options, paths ...string) func(testing.TB) *translate.Storage {
	open := sync.OnceValues(func() (*translate.Storage, error) {
		set, err := openSet(opts, paths)
		if err != nil {
			return nil, err
		}
		return translate.New(set, translate.Options{}), nil
	})
	return func(t testing.TB) *translate.Storage {
		t.Helper()
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}
