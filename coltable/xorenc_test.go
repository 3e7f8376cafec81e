package coltable

import (
	"bytes"
	"math"
	"math/rand"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// TestXOREncMatchesChunkenc: our XOR encoder writes exactly the bytes of
// Prometheus' for series of every kind: steady and jittering intervals,
// large, negative and huge time steps, repeated, slowly and wildly
// changing values, staleness markers, NaNs and infinities, 1 to 120
// samples.
func TestXOREncMatchesChunkenc(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	values := []func(i int) float64{
		func(int) float64 { return 42 },
		func(i int) float64 { return float64(i) },
		func(i int) float64 { return float64(i * i * 1000) },
		func(i int) float64 { return rng.Float64() },
		func(i int) float64 { return rng.NormFloat64() * 1e12 },
		func(i int) float64 { return math.Float64frombits(rng.Uint64()) },
		func(i int) float64 {
			switch i % 5 {
			case 0:
				return staleNaN
			case 1:
				return math.NaN()
			case 2:
				return math.Inf(1)
			case 3:
				return math.Copysign(0, -1)
			}
			return 1.5
		},
	}
	steps := []func(i int) int64{
		func(int) int64 { return 10000 },
		func(i int) int64 { return 10000 + int64(rng.Intn(30)) - 15 },
		func(i int) int64 { return int64(rng.Intn(1 << 22)) },
		func(i int) int64 { return int64(rng.Intn(1<<40)) - 1<<39 },
		func(i int) int64 { return []int64{1, 8191, 8193, 65535, 65537, 524287, 524289, 1 << 33}[i%8] },
	}
	for vi, vf := range values {
		for si, sf := range steps {
			for _, n := range []int{1, 2, 3, 17, 120} {
				want := chunkenc.NewXORChunk()
				app, _ := want.Appender()
				var e xorEnc
				e.reset()
				ts := int64(1795046400000 + rng.Intn(1000))
				if si == 3 {
					ts = int64(rng.Intn(1<<40)) - 1<<39
				}
				for i := 0; i < n; i++ {
					v := vf(i)
					app.Append(0, ts, v)
					e.append(ts, v)
					ts += sf(i)
				}
				if got := e.bytes(); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("values %d, steps %d, %d samples: bytes differ\n got %x\nwant %x", vi, si, n, got, want.Bytes())
				}
			}
		}
	}
}

func BenchmarkXOREnc(b *testing.B) {
	var e xorEnc
	for i := 0; i < b.N; i++ {
		if i%120 == 0 {
			e.reset()
		}
		e.append(int64(i)*10000, float64(i%1000)*0.37)
	}
}

func BenchmarkXORChunkenc(b *testing.B) {
	var app chunkenc.Appender
	for i := 0; i < b.N; i++ {
		if i%120 == 0 {
			app, _ = chunkenc.NewXORChunk().Appender()
		}
		app.Append(0, int64(i)*10000, float64(i%1000)*0.37)
	}
}
