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

// TestAppendRunMatchesAppend: the encoder's run of plain samples writes the
// bytes that appending them one at a time writes, for the series of
// TestXOREncMatchesChunkenc, whatever stride the values are laid out at;
// where a run stops (a sample not after the last, a staleness marker, a
// full chunk) the next sample goes the long way.
func TestAppendRunMatchesAppend(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	values := []func(i int) float64{
		func(int) float64 { return 42 },
		func(i int) float64 { return float64(i) },
		func(i int) float64 { return float64(i/3) * 0.25 },
		func(i int) float64 { return rng.Float64() },
		func(i int) float64 { return math.Float64frombits(rng.Uint64()) },
		func(i int) float64 { return math.Float64frombits(rng.Uint64() | 1 | 1<<63) },
		func(i int) float64 {
			return []float64{staleNaN, math.NaN(), math.Inf(1), math.Copysign(0, -1), 1.5}[i%5]
		},
	}
	steps := []func(i int) int64{
		func(int) int64 { return 10000 },
		func(i int) int64 { return 10000 + int64(rng.Intn(30)) - 15 },
		func(i int) int64 { return int64(rng.Intn(1 << 22)) },
		func(i int) int64 { return int64(rng.Intn(1<<40)) - 1<<39 },
		func(i int) int64 { return []int64{1, 8191, 8193, 65535, 65537, 524287, 524289, 1 << 33, 0}[i%9] },
	}
	for vi, vf := range values {
		for si, sf := range steps {
			for _, n := range []int{2, 3, 17, 120} {
				for _, stride := range []int{1, 3} {
					ts := make([]int64, n)
					vs := make([]float64, n*stride)
					at := int64(1795046400000)
					for i := range ts {
						ts[i], vs[i*stride] = at, vf(i)
						at += sf(i)
					}
					var want, got xorEnc
					want.reset()
					for i := range ts {
						want.append(ts[i], vs[i*stride])
					}
					got.reset()
					got.append(ts[0], vs[0])
					got.append(ts[1], vs[stride])
					for i := 2; i < n; {
						i += got.appendRun(ts[i:], vs[i*stride:], stride)
						if i < n {
							got.append(ts[i], vs[i*stride])
							i++
						}
					}
					if !bytes.Equal(got.bytes(), want.bytes()) || got.n != want.n {
						t.Fatalf("values %d, steps %d, %d samples, stride %d: bytes differ\n got %x\nwant %x", vi, si, n, stride, got.bytes(), want.bytes())
					}
				}
			}
		}
	}
}

func BenchmarkXOREncRun(b *testing.B) {
	ts := make([]int64, 118)
	vs := make([]float64, 118)
	for i := range ts {
		ts[i] = int64(i+2) * 10000
	}
	var e xorEnc
	for i := 0; i < b.N; i += 118 {
		e.reset()
		e.append(0, 0)
		e.append(10000, 0.37)
		for j := range vs {
			vs[j] = float64((i+j)%1000) * 0.37
		}
		e.appendRun(ts, vs, 1)
	}
}
