//go:build !amd64

package tensor

import "math/big"

func addAsmKernels(k map[string]func(a, b []float32) float32) {}

func fmaRef(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}
