package tensor

import (
	"os"

	"golang.org/x/sys/cpu"
)

//go:noescape
func dot16AVX512(a, b *float32, n int) float32

//go:noescape
func dot16AVX2(a, b *float32, n int) float32

//go:noescape
func dot64AVX512(a, b *float32, n int) float32

//go:noescape
func fmaRowAVX2(acc *float32, p float32, v *float32, n int)

//go:noescape
func fmaRows64AVX2(acc *float32, p *float32, n int, v *float32, stride int)

// Kernel names the SIMD level chosen at start-up: "avx512", "avx2" or
// "generic". S4C_KERNEL=generic|avx2 forces a lower level (for testing and
// comparison).
var Kernel = chooseKernel()

func chooseKernel() string {
	want := os.Getenv("S4C_KERNEL")
	switch {
	case want == "generic":
		return "generic"
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && want != "avx2":
		return "avx512"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C:
		// F16C: the AVX2 kernels widen float16 weights and cache rows
		// with vcvtph2ps.
		return "avx2"
	}
	return "generic"
}

func dot16(a, b []float32) float32 {
	switch Kernel {
	case "avx512":
		return dot16AVX512(&a[0], &b[0], len(a))
	case "avx2":
		return dot16AVX2(&a[0], &b[0], len(a))
	}
	return dot16Go(a, b)
}

// dot64 reduces the first len(a) (a multiple of 64) elements with four
// 16-lane accumulators.
func dot64(a, b []float32) float32 {
	if Kernel == "avx512" {
		return dot64AVX512(&a[0], &b[0], len(a))
	}
	return dot64Go(a, b)
}

// FMARow sets acc[i] = fma(p, v[i], acc[i]).
func FMARow(acc []float32, p float32, v []float32) {
	n := len(acc)
	if n%8 == 0 && n > 0 && Kernel != "generic" {
		fmaRowAVX2(&acc[0], p, &v[0], n)
		return
	}
	fmaRowGo(acc, p, v)
}

// FMARows sets acc[i] = fma(p[k], v[k·stride+i], acc[i]) for k = 0, 1, …,
// len(p)-1 in turn: len(p) calls of FMARow in one, bitwise the same, with
// the accumulators held in registers across the rows (a matrix product's
// inner loop: C's row += A's row · B).
func FMARows(acc, p, v []float32, stride int) {
	n := len(p)
	if n == 0 || len(acc) == 0 {
		return
	}
	_ = v[(n-1)*stride+len(acc)-1]
	i := 0
	if Kernel != "generic" {
		for ; i+64 <= len(acc); i += 64 {
			fmaRows64AVX2(&acc[i], &p[0], n, &v[i], stride)
		}
	}
	if i < len(acc) {
		fmaRowsGo(acc[i:], p, v[i:], stride)
	}
}
