package adapter

import (
	"strings"
	"testing"
)

func TestReadOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*ReadOptions)
		err    string // "" for valid
	}{
		{"defaults", func(*ReadOptions) {}, ""},
		{"sample limit disabled", func(o *ReadOptions) { o.MaxSamplesPerQuery = 0 }, ""},
		{"no queue", func(o *ReadOptions) { o.MaxQueueWait = 0 }, ""},
		{"zero concurrency would hang", func(o *ReadOptions) { o.MaxConcurrent = 0 }, "MaxConcurrent 0 must be > 0"},
		{"negative concurrency", func(o *ReadOptions) { o.MaxConcurrent = -1 }, "MaxConcurrent -1 must be > 0"},
		{"negative sample limit", func(o *ReadOptions) { o.MaxSamplesPerQuery = -1 }, "MaxSamplesPerQuery -1 < 0"},
		{"negative queue wait", func(o *ReadOptions) { o.MaxQueueWait = -1 }, "MaxQueueWait"},
		{"zero frame size", func(o *ReadOptions) { o.MaxBytesPerFrame = 0 }, "MaxBytesPerFrame 0 must be > 0"},
		{"zero request size", func(o *ReadOptions) { o.MaxRequestBytes = 0 }, "MaxRequestBytes 0 must be > 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultReadOptions()
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
	if _, err := NewReadHandler(nil, DefaultReadOptions(), nil, nil); err == nil {
		t.Fatal("nil queryable accepted")
	}
}
