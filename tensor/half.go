// Package tensor holds the numeric formats of ggml tensors (float16,
// bfloat16 and the block-quantized types) and the kernels that compute with
// them: matrix × batch-of-vectors, RMSNorm, RoPE, softmax.
package tensor

import "math"

// f16Table maps every IEEE half-precision bit pattern to its float32 value.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToF32Slow(uint16(i))
	}
	return &t
}()

// F16ToF32 converts an IEEE 754 binary16 value to float32 (exactly).
func F16ToF32(h uint16) float32 { return f16Table[h] }

func f16ToF32Slow(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToF16 converts float32 to binary16, rounding to nearest even, with
// overflow to infinity (as the F16C instruction vcvtps2ph does).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // inf or nan
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // may carry into the exponent, which is correct rounding
	}
	return sign | uint16(r)
}

// BF16ToF32 converts a bfloat16 value to float32 (exactly).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 converts float32 to bfloat16, rounding to nearest even.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // nan: keep it a quiet nan
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// RoundF16 rounds x to the nearest float16 value (ties to even), returned as
// float32: F16ToF32(F32ToF16(x)) without the table, for the hot paths.
func RoundF16(x float32) float32 {
	b := math.Float32bits(x)
	if e := b >> 23 & 0xff; e >= 113 && e <= 141 { // |x| in the normal float16 range, below 2^15
		b += 0xfff + (b>>13)&1
		return math.Float32frombits(b &^ 0x1fff)
	}
	return F16ToF32(F32ToF16(x))
}

// ScaleRoundF16 sets x[i] = RoundF16(x[i]·s): attention's probabilities
// and query as the float16 operands of its products (s = 1 only rounds).
func ScaleRoundF16(x []float32, s float32) {
	for i := scaleRoundF16Fast(x, s); i < len(x); i++ {
		x[i] = RoundF16(x[i] * s)
	}
}

// F32ToF16Row sets dst[i] = F32ToF16(src[i]) for i < len(src): a KV cache
// row stored at float16 precision.
func F32ToF16Row(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i := f32ToF16Fast(dst, src); i < len(src); i++ {
		dst[i] = F32ToF16(src[i])
	}
}

// F16ToF32Rows widens n rows of d float16 values, row a at src[a·stride:],
// into dst[a·d:][:d]: float16 cache rows as the float32 operands of the
// attention kernels. Every float16 value is a float32 exactly, so products
// over the widened rows are the ones a kernel reading float16 would form.
func F16ToF32Rows(dst []float32, src []uint16, stride, d, n int) {
	if n == 0 || d == 0 {
		return
	}
	_ = src[(n-1)*stride+d-1]
	dst = dst[:n*d]
	if f16ToF32RowsFast(dst, src, stride, d, n) {
		return
	}
	for a := 0; a < n; a++ {
		row, out := src[a*stride:a*stride+d], dst[a*d:(a+1)*d]
		for i, h := range row {
			out[i] = F16ToF32(h)
		}
	}
}
