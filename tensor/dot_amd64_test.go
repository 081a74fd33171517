package tensor

import (
	"math/big"

	"golang.org/x/sys/cpu"
)

func addAsmKernels(k map[string]func(a, b []float32) float32) {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		k["avx2"] = func(a, b []float32) float32 { return dot16AVX2(&a[0], &b[0], len(a)) }
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		k["avx512"] = func(a, b []float32) float32 { return dot16AVX512(&a[0], &b[0], len(a)) }
	}
}

// fmaRef rounds a*b+c computed exactly (big.Float) to float32.
func fmaRef(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}
