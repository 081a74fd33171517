package tensor

//go:noescape
func ropePairsAVX512(x *float32, cs *float32, n int)

//go:noescape
func ropeNeoxAVX512(x *float32, cs *float32, n, half int)

// ropeFast rotates the first pairs of one head with the vector kernels and
// returns how many pairs it did (a multiple of 8 or 16; 0 without
// AVX-512).
func (r *Rope) ropeFast(x, cs []float32) int {
	if Kernel != "avx512" {
		return 0
	}
	half := r.Dims / 2
	if r.Neox {
		n := half / 16 * 16
		if n > 0 {
			_ = x[half+n-1]
			_ = cs[2*n-1]
			ropeNeoxAVX512(&x[0], &cs[0], n, half)
		}
		return n
	}
	n := r.Dims / 16 * 16
	if n > 0 {
		_ = x[n-1]
		_ = cs[n-1]
		ropePairsAVX512(&x[0], &cs[0], n)
	}
	return n / 2
}
