package tensor

import "math"

// Exp is a float32 exponential built from a range reduction and a degree-5
// minimax polynomial (the approximation of Arm's optimized-routines that
// ggml's vector kernels use; max error about 1.5 ulp). The engine uses it for
// SiLU and softmax so that its numerics follow llama.cpp's closely: every
// multiply-add is a float32 fused multiply-add rounded once, as ggml's
// _mm512_fmadd_ps, so values later rounded to float16 (the KV cache) round
// the same way.
//
// x = n·ln2 + b with n integral and |b| <= ln2/2; e^b ≈ 1 + b·p(b); e^x = 2^n·e^b.
func Exp(x float32) float32 {
	const shift = 0x1.8p23 // adding it rounds to an integer
	z := FMA32(x, 0x1.715476p+0, shift)
	n := z - shift
	b := FMA32(-n, 0x1.62e4p-1, x) // b = x - n·ln2, ln2 split in two parts
	b = FMA32(-n, 0x1.7f7d1cp-20, b)
	u := b * b
	j := FMA32(
		FMA32(FMA32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, FMA32(0x1.555e66p-3, b, 0x1.fffdb6p-2)),
		u,
		FMA32(0x1.ffffecp-1, b, 1))
	if n > 192 {
		return float32(math.Inf(1))
	}
	if n < -192 {
		return 0
	}
	if n != n { // nan input
		return n
	}
	return scale2(j, int(n))
}

// scale2 returns j·2^e, rounded once (as the vscalefps instruction does).
// j is in [0.5, 2] here, so for results in the normal range adding e to the
// exponent field is exact.
func scale2(j float32, e int) float32 {
	b := math.Float32bits(j)
	if ex := int(b>>23&0xff) + e; ex > 0 && ex < 255 && j > 0 {
		return math.Float32frombits(b&^(0xff<<23) | uint32(ex)<<23)
	}
	return float32(math.Ldexp(float64(j), e))
}

// ExpShift sets dst[i] = Exp(src[i] - sub): the exponentials of a softmax
// row, eight at a time where AVX-512 is present (same arithmetic).
func ExpShift(dst, src []float32, sub float32) {
	src = src[:len(dst)]
	i := expShiftFast(dst, src, sub)
	for ; i < len(dst); i++ {
		dst[i] = Exp(src[i] - sub)
	}
}
