//go:build linux

package tensor

import (
	"fmt"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	"s4c/gguf"
)

// threadCPU is the CPU time the calling thread has used: a kernel's
// speed that does not count the time another process held the core (the
// machines these run on are shared).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkKernelInCache runs each type's decoding kernel (batch 1, one
// thread) on a matrix small enough to stay in the L2 cache, so memory is
// not the limit: the bytes per second a kernel can take at most. Where it
// is not well above one core's share of the read bandwidth, decoding that
// type is bound by the kernel's arithmetic, not by memory. cpu-MB/s
// counts only the thread's own CPU time.
func BenchmarkKernelInCache(b *testing.B) {
	for _, sh := range [][2]int{{256, 2048}, {128, 5632}, {64, 8192}} {
		benchInCache(b, sh[0], sh[1])
	}
}

// benchInCache is BenchmarkKernelInCache for rows × cols (about 300 KB
// of Q4_K at both shapes: wider rows show what a row's own overhead
// costs).
func benchInCache(b *testing.B, rows, cols int) {
	types := []gguf.TensorType{gguf.F16, gguf.Q8_0, gguf.Q4_0, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q3_K, gguf.Q2_K, gguf.IQ4_NL}
	for _, typ := range types {
		m, size := repeatedMat(b, typ, rows, cols)
		p := NewPool(1)
		x := benchActs(cols)
		y := make([]float32, rows)
		b.Run(fmt.Sprintf("%s/%dx%d", typ, rows, cols), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			// The integer kernels alone: the activations are quantized
			// once, as a model's step does once for several matrices.
			mul := func() { m.Mul(y, x, 1, p) }
			if m.Prepare() && intKernels() {
				var a pkActs
				quantizeActs(&a, x, 1, cols, nil)
				var s Scratch
				mul = func() { m.mulIntRows(y, &a, 1, 0, rows, &s) }
			}
			mul()
			b.SetBytes(int64(size))
			b.ResetTimer()
			c0 := threadCPU()
			for i := 0; i < b.N; i++ {
				mul()
			}
			if c := threadCPU() - c0; c > 0 {
				b.ReportMetric(float64(size)*float64(b.N)/c.Seconds()/1e6, "cpu-MB/s")
			}
		})
	}
}

// BenchmarkStreamShare streams about 600 MB of rows at batch 1 on all
// threads, alternated pass by pass with a read probe of the same size, and
// reports the median of (weight bytes per second) / (probe bytes per
// second): the share of the machine's read bandwidth that decoding that
// type reaches in its matrix products alone, measured at the same moments.
// Rows of 2048 columns are a 1.1B model's attention and FFN gate/up
// matrices, rows of 5632 its FFN down matrix (where a row is wider than the
// kernels' prefetch distance).
func BenchmarkStreamShare(b *testing.B) {
	types := []gguf.TensorType{gguf.Q8_0, gguf.Q4_0, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K}
	for _, typ := range types {
		for _, cols := range []int{2048, 5632} {
			benchStreamShare(b, typ, cols)
		}
	}
}

func benchStreamShare(b *testing.B, typ gguf.TensorType, cols int) {
	b.Run(fmt.Sprintf("%s/%d", typ, cols), func(b *testing.B) {
		rows := (600 << 20) / typ.RowBytes(cols) / 64 * 64
		m, size := repeatedMat(b, typ, rows, cols)
		p := NewPool(0)
		probe := NewReadProbe(p.Threads, 600<<20)
		defer probe.Close()
		x := benchActs(cols)
		y := make([]float32, rows)
		bytes := float64(size)
		m.Mul(y, x, 1, p)
		var shares []float64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bw := probe.Measure()
			t0 := time.Now()
			m.Mul(y, x, 1, p)
			shares = append(shares, bytes/time.Since(t0).Seconds()/bw)
		}
		sort.Float64s(shares)
		b.ReportMetric(shares[len(shares)/2], "share")
	})
}

// BenchmarkStreamCols streams about 200 MB of rows of each width at batch
// 1 on all threads, the widths alternated pass by pass in one process (so
// that every width sees the same moments of a shared machine), and reports
// each width's median GB/s of the file's bytes. Rows of 2048 columns are a
// 1.1B model's Q, K, V, O, gate and up matrices (seven tenths of its
// bytes); 5632 its FFN down matrix.
func BenchmarkStreamCols(b *testing.B) {
	for _, typ := range []gguf.TensorType{gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q8_0, gguf.Q4_0} {
		b.Run(typ.String(), func(b *testing.B) {
			widths := []int{2048, 3072, 4096, 5632}
			type side struct {
				m    *Mat
				size int
				x, y []float32
			}
			var sides []side
			for _, cols := range widths {
				rows := (200 << 20) / typ.RowBytes(cols) / 64 * 64
				m, size := repeatedMat(b, typ, rows, cols)
				m.Prepare()
				sides = append(sides, side{m, size, benchActs(cols), make([]float32, rows)})
			}
			p := NewPool(0)
			rates := make([][]float64, len(sides))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j, sd := range sides {
					t0 := time.Now()
					sd.m.Mul(sd.y, sd.x, 1, p)
					rates[j] = append(rates[j], float64(sd.size)/time.Since(t0).Seconds()/1e9)
				}
			}
			for j, r := range rates {
				sort.Float64s(r)
				b.ReportMetric(r[len(r)/2], fmt.Sprintf("GB/s@%d", widths[j]))
			}
		})
	}
}

// BenchmarkBatchInCache is BenchmarkKernelInCache for batches of n tokens
// of the offset types (256×2048, one thread): the tiles' arithmetic per
// row and group, where Q4_K's compact scales cost most (they are unpacked
// on every pass of a block of rows). cpu-MB·tok/s: weight bytes times
// tokens per second of the thread's CPU time.
func BenchmarkBatchInCache(b *testing.B) {
	rows, cols := 256, 2048
	for _, typ := range []gguf.TensorType{gguf.Q4_K, gguf.Q5_K, gguf.Q4_1} {
		m, size := repeatedMat(b, typ, rows, cols)
		if !m.Prepare() || !intKernels() {
			b.Skip("no integer kernels on this machine")
		}
		for _, n := range []int{1, 2, 3, 4, 8, 16} {
			x := benchActs(cols * n)
			y := make([]float32, rows*n)
			var a pkActs
			quantizeActs(&a, x, n, cols, nil)
			var s Scratch
			b.Run(fmt.Sprintf("%s/%d", typ, n), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				m.mulIntRows(y, &a, n, 0, rows, &s)
				b.ResetTimer()
				c0 := threadCPU()
				for i := 0; i < b.N; i++ {
					m.mulIntRows(y, &a, n, 0, rows, &s)
				}
				if c := threadCPU() - c0; c > 0 {
					b.ReportMetric(float64(size)*float64(n)*float64(b.N)/c.Seconds()/1e6, "cpu-MB·tok/s")
				}
			})
		}
	}
}
