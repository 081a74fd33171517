package tensor

//go:noescape
func expShiftAVX512(dst, src *float32, n int, sub float32)

//go:noescape
func expShiftAVX2(dst, src *float32, n int, sub float32) int

// expShiftFast does ExpShift with a vector kernel and returns how many
// elements it did: all with AVX-512, the multiples of 8 with AVX2 and FMA
// (a group whose results are not all normal numbers taken by the scalar
// Exp here), none otherwise. Without it an AVX2 machine took Exp in Go,
// emulated fused multiply-adds and all: a fifth of a 1.1B Q4_K decoding
// step, in softmax and SwiGLU.
func expShiftFast(dst, src []float32, sub float32) int {
	n := len(dst)
	switch {
	case n == 0:
		return 0
	case Kernel == "avx512":
		expShiftAVX512(&dst[0], &src[0], n, sub)
		return n
	case Kernel != "avx2":
		return 0
	}
	i := 0
	for n-i >= 8 {
		m := (n - i) / 8 * 8
		k := expShiftAVX2(&dst[i], &src[i], m, sub)
		i += k
		if k < m {
			for j := i; j < i+8; j++ {
				dst[j] = Exp(src[j] - sub)
			}
			i += 8
		}
	}
	return i
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
