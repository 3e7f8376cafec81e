// Package xztest makes .xz test data for the tests of internal/xz and of
// archive, which both need files compressed as pmlogger_daily compresses
// them, and lets those tests require the compression commands. They cannot
// use internal/pcptest, which imports archive and so internal/xz.
package xztest

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	ulxz "github.com/ulikunitz/xz"
)

// RequireCommand skips the test without the named command, or fails it
// under CI=true, where make deps installs the tools (as pcptest.Require
// does for the tests that can import it).
func RequireCommand(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the %s command is required under CI=true (make deps installs it)", name)
	}
	t.Skipf("no %s command", name)
}

// Data returns n deterministic bytes that compress about as well as
// a data volume.
func Data(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"kernel.all.load", "mem.util.free", "disk.dev.read", "\x00\x00\x00\x10", "network.interface.in.bytes"}
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		b = binary.BigEndian.AppendUint32(b, rng.Uint32()%1000)
	}
	return b[:n]
}

// Make compresses data into blocks of blockSize with the given check:
// with the xz command, as pmlogger_daily does, if there is one, otherwise
// with ulikunitz/xz's writer.
func Make(t testing.TB, data []byte, blockSize int, check string) []byte {
	t.Helper()
	if path, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command(path, "-0", "--block-size="+strconv.Itoa(blockSize), "-C", check, "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz: %v", err)
		}
		return out
	}
	cfg := ulxz.WriterConfig{BlockSize: int64(blockSize), DictCap: 256 << 10}
	switch check {
	case "none":
		cfg.NoCheckSum = true
	case "crc32":
		cfg.CheckSum = ulxz.CRC32
	case "crc64":
		cfg.CheckSum = ulxz.CRC64
	case "sha256":
		cfg.CheckSum = ulxz.SHA256
	}
	var buf bytes.Buffer
	w, err := cfg.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Command runs xz with args on data.
func Command(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("xz", append(args, "-c")...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %s: %v", strings.Join(args, " "), err)
	}
	return out
}
