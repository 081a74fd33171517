package tensor

//go:noescape
func expShiftAVX512(dst, src *float32, n int, sub float32)

// expShiftFast does the first multiple of 8 elements of ExpShift and
// returns how many it did.
func expShiftFast(dst, src []float32, sub float32) int {
	n := len(dst) / 8 * 8
	if Kernel != "avx512" || n == 0 {
		return 0
	}
	expShiftAVX512(&dst[0], &src[0], n, sub)
	return n
}
