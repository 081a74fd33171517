package tensor

import (
	"encoding/binary"
	"sort"
	"testing"
	"time"

	"s4c/gguf"
)

// BenchmarkMulF16 reports the matrix kernel's throughput on a 2048×2048
// F16 matrix (weights streamed from memory) for several batch sizes.
func BenchmarkMulF16(b *testing.B) { benchMul(b, gguf.F16) }
func BenchmarkMulF32(b *testing.B) { benchMul(b, gguf.F32) }
func BenchmarkMulQ8(b *testing.B)  { benchMul(b, gguf.Q8_0) }
func BenchmarkMulQ4(b *testing.B)  { benchMul(b, gguf.Q4_0) }

func benchMul(b *testing.B, typ gguf.TensorType) {
	for _, n := range []int{1, 4, 16, 32} {
		b.Run(itoa(n), func(b *testing.B) {
			rows, cols := 2048, 2048
			w := make([]float32, rows*cols)
			for i := range w {
				w[i] = float32(i%13) * 0.01
			}
			enc, _ := Quantize(typ, w)
			m, _ := NewMat(typ, rows, cols, enc)
			x := make([]float32, n*cols)
			y := make([]float32, n*rows)
			p := NewPool(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Mul(y, x, n, p)
			}
			flops := 2 * float64(rows*cols*n) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

func itoa(n int) string {
	s := ""
	for n > 0 || s == "" {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

// BenchmarkDecodeBandwidth streams a 1 GiB F16 matrix (streamBytes) at
// batch 1 on all threads: the bandwidth plain decoding can reach.
func BenchmarkDecodeBandwidth(b *testing.B) {
	cols := 4096
	rows := streamRows(gguf.F16, cols)
	enc := make([]byte, rows*cols*2)
	for i := range enc {
		enc[i] = byte(i % 61)
	}
	m, _ := NewMat(gguf.F16, rows, cols, enc)
	x := make([]float32, cols)
	y := make([]float32, rows)
	p := NewPool(0)
	m.Mul(y, x, 1, p)
	b.SetBytes(int64(len(enc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Mul(y, x, 1, p)
	}
}

// BenchmarkStreamBatch streams a matrix of 2048-column rows (the width of
// a 1.1B model's attention and FFN inputs) far larger than the caches
// (streamBytes) on all threads for small batches: the verification passes
// of speculative decoding. Weight bytes per second falling below N=1's
// marks where a batch stops being free.
func BenchmarkStreamBatch(b *testing.B) {
	const cols = 2048
	types := []gguf.TensorType{gguf.F16, gguf.Q8_0, gguf.Q4_0, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q3_K, gguf.Q2_K, gguf.IQ4_NL, gguf.IQ4_XS}
	for _, typ := range types {
		rows := streamRows(typ, cols)
		m, size := repeatedMat(b, typ, rows, cols)
		p := NewPool(0)
		for _, n := range []int{1, 2, 4, 5, 6, 8} {
			if testing.Short() && n != 1 && n != 8 {
				continue
			}
			b.Run(typ.String()+"/"+itoa(n), func(b *testing.B) {
				x := benchActs(n * cols)
				y := make([]float32, n*rows)
				m.Mul(y, x, n, p)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					m.Mul(y, x, n, p)
				}
			})
		}
	}
}

// BenchmarkQuantizeActs quantizes 16 tokens of a 2048-wide activation (the
// int8 kernels' input) on one thread.
func BenchmarkQuantizeActs(b *testing.B) {
	const n, cols = 16, 2048
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(i%29-14) * 0.37
	}
	var a pkActs
	b.SetBytes(int64(4 * len(x)))
	for i := 0; i < b.N; i++ {
		quantizeActs(&a, x, n, cols, nil)
	}
}

// BenchmarkSplit runs the matrix products of a 1.1B Q4_K model's
// decoding step (22 layers of Q, K, V, O, gate, up and down at batch 1)
// with the pool's stealing split and with even shares, alternated pass by
// pass, and reports each one's median milliseconds a step.
func BenchmarkSplit(b *testing.B) {
	mat := func(rows, cols int) *Mat {
		m, _ := repeatedMat(b, gguf.Q4_K, rows, cols)
		return m
	}
	const dim, kv, ffn = 2048, 256, 5632
	type layer struct{ q, k, v, o, gate, up, down *Mat }
	ls := make([]layer, 22)
	for l := range ls {
		ls[l] = layer{mat(dim, dim), mat(kv, dim), mat(kv, dim), mat(dim, dim), mat(ffn, dim), mat(ffn, dim), mat(dim, ffn)}
	}
	p := NewPool(0)
	x := make([]float32, ffn)
	y := [3][]float32{make([]float32, ffn), make([]float32, ffn), make([]float32, ffn)}
	step := func() time.Duration {
		t0 := time.Now()
		for _, L := range ls {
			MulMany(x[:dim], 1, p, []*Mat{L.q, L.k, L.v}, y[:])
			L.o.Mul(y[0], x[:dim], 1, p)
			MulMany(x[:dim], 1, p, []*Mat{L.gate, L.up}, y[:2])
			L.down.Mul(y[0], x, 1, p)
		}
		return time.Since(t0)
	}
	defer func() { stealing = true }()
	var times [2][]float64
	for i := 0; i < b.N; i++ {
		for g := range times {
			stealing = g == 1
			step()
			times[g] = append(times[g], step().Seconds()*1e3)
		}
	}
	for g, name := range []string{"even-ms", "stealing-ms"} {
		sort.Float64s(times[g])
		b.ReportMetric(times[g][len(times[g])/2], name)
	}
}

// streamBytes is the size of what the streaming benchmarks read pass
// after pass: far beyond any cache. A matrix re-read by itself must not
// fit in what the caches hold across passes, which on the Zen 5 machines
// of 2026-12-04 was far more than their L3 seemed to allow: one Q4_K
// matrix of 2048 columns re-read pass after pass on two threads read
// 111-117 GB/s at 50 MB, 99-105 at 100-200 MB, and 65-81 from 250 MB on
// (two matrices of 200 MB alternated: 59-65), where the read probe gave
// 62-66. At 200 MB, BenchmarkStreamPairs had rows in pairs and one at a
// time equal (86-89 GB/s); at 1 GiB pairs read 68-69 against 58.
const streamBytes = 1 << 30

// streamRows is how many rows of cols columns of typ make streamBytes
// (a multiple of 64, as repeatedMat wants).
func streamRows(typ gguf.TensorType, cols int) int {
	return streamBytes / typ.RowBytes(cols) / 64 * 64
}

// repeatedMat is a rows × cols matrix of type typ for benchmarks, rows a
// multiple of 64 (or fewer): 64 rows of small real values quantized once
// and repeated, so that large matrices take little time to make. IQ4_XS,
// which this package reads but does not quantize, gets random
// super-blocks with d = 0.01. It returns the matrix and its size in the
// file's format.
func repeatedMat(tb testing.TB, typ gguf.TensorType, rows, cols int) (*Mat, int) {
	chunk := min(rows, 64)
	var part []byte
	if typ == gguf.IQ4_XS {
		part = make([]byte, chunk*cols/256*136)
		for i := range part {
			part[i] = byte(i*7919>>3 ^ i)
		}
		for sb := 0; sb < len(part); sb += 136 {
			binary.LittleEndian.PutUint16(part[sb:], F32ToF16(0.01))
		}
	} else {
		w := make([]float32, chunk*cols)
		for i := range w {
			w[i] = float32(i%13-6) * 0.01
		}
		var err error
		if part, err = Quantize(typ, w); err != nil {
			tb.Fatal(err)
		}
	}
	enc := make([]byte, 0, len(part)*rows/chunk)
	for len(enc) < cap(enc) { // rows need not be a multiple of chunk
		enc = append(enc, part[:min(len(part), cap(enc)-len(enc))]...)
	}
	m, err := NewMat(typ, rows, cols, enc)
	if err != nil {
		tb.Fatal(err)
	}
	return m, len(enc)
}

// benchActs is n activations of small real values for benchmarks.
func benchActs(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%7-3) * 0.1
	}
	return x
}
