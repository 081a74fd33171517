package tensor

//go:noescape
func expShiftAVX512(dst, src *float32, n int, sub float32)

// expShiftFast does ExpShift with the vector kernel (all of it) and
// returns how many elements it did (0 without AVX-512).
func expShiftFast(dst, src []float32, sub float32) int {
	n := len(dst)
	if Kernel != "avx512" || n == 0 {
		return 0
	}
	expShiftAVX512(&dst[0], &src[0], n, sub)
	return n
}

//go:noescape
func swiGLUExpAVX512(gate, up *float32, n int)

// swiGLUExpFast does the first multiple of 16 elements of SwiGLU in one
// pass and returns how many it did.
func swiGLUExpFast(gate, up []float32) int {
	n := len(gate) / 16 * 16
	if Kernel != "avx512" || n == 0 {
		return 0
	}
	swiGLUExpAVX512(&gate[0], &up[0], n)
	return n
}
