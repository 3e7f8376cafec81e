package remoteread

import (
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

func TestReadOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*adapter.ReadOptions)
		err    string // "" for valid
	}{
		{"defaults", func(*adapter.ReadOptions) {}, ""},
		{"sample limit disabled", func(o *adapter.ReadOptions) { o.MaxSamplesPerQuery = 0 }, ""},
		{"no queue", func(o *adapter.ReadOptions) { o.MaxQueueWait = 0 }, ""},
		{"zero concurrency would hang", func(o *adapter.ReadOptions) { o.MaxConcurrent = 0 }, "MaxConcurrent 0 must be > 0"},
		{"negative concurrency", func(o *adapter.ReadOptions) { o.MaxConcurrent = -1 }, "MaxConcurrent -1 must be > 0"},
		{"negative sample limit", func(o *adapter.ReadOptions) { o.MaxSamplesPerQuery = -1 }, "MaxSamplesPerQuery -1 < 0"},
		{"negative queue wait", func(o *adapter.ReadOptions) { o.MaxQueueWait = -1 }, "MaxQueueWait"},
		{"zero frame size", func(o *adapter.ReadOptions) { o.MaxBytesPerFrame = 0 }, "MaxBytesPerFrame 0 must be > 0"},
		{"zero request size", func(o *adapter.ReadOptions) { o.MaxRequestBytes = 0 }, "MaxRequestBytes 0 must be > 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := adapter.DefaultReadOptions()
			tc.modify(&o)
			err := o.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			// The constructor refuses what Validate refuses.
			if _, err := NewReadHandler(&fakeStorage{}, o, nil, nil); err == nil {
				t.Fatal("NewReadHandler accepted invalid options")
			}
		})
	}
}

func TestNewReadHandlerNilQueryable(t *testing.T) {
	if _, err := NewReadHandler(nil, adapter.DefaultReadOptions(), nil, nil); err == nil {
		t.Fatal("nil queryable accepted")
	}
}
