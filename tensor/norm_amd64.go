package tensor

//go:noescape
func sumSquaresAVX512(x *float32, n int) float64

//go:noescape
func scaleMulAVX512(dst, x, w *float32, n int, s float32)

// sumSquares16 is sumSquaresGo(x[:n]) for the largest multiple n of 16 in
// len(x); it returns the sum and n.
func sumSquares16(x []float32) (float64, int) {
	n := len(x) / 16 * 16
	if Kernel != "avx512" || n == 0 {
		return sumSquaresGo(x[:n]), n
	}
	return sumSquaresAVX512(&x[0], n), n
}

// scaleMul16 sets dst[i] = (x[i]·s)·w[i] for the largest multiple n of 16
// in len(x) and returns n (0 without AVX-512).
func scaleMul16(dst, x, w []float32, s float32) int {
	n := len(x) / 16 * 16
	if Kernel != "avx512" || n == 0 {
		return 0
	}
	_, _ = dst[n-1], w[n-1]
	scaleMulAVX512(&dst[0], &x[0], &w[0], n, s)
	return n
}
