package tensor

import (
	"math"
	"unsafe"

	"s4c/gguf"
)

//go:generate go run ../internal/asmgen

//go:noescape
func tileF16x1AVX512(w *uint16, x *float32, cols int) float32

//go:noescape
func tileBF16x1AVX512(w *uint16, x *float32, cols int) float32

//go:noescape
func tileF16x1AVX2(w *uint16, x *float32, cols int) float32

//go:noescape
func tileF16r2t4AVX2(w *uint16, wstride int, x *float32, cols, xstride int, out *float32, pf int)

// mulFloatRows computes rows [lo, hi) of y = x·Wᵀ for F16/F32 weights with
// SIMD tiles of 4 rows × up to 4 tokens: each weight chunk and each
// activation chunk is loaded once for several products, and four rows give
// four independent accumulator chains even for one token. Per (row, token)
// the arithmetic is that of Dot on the dequantized row, so the result equals
// the portable path bit for bit and does not depend on n.
func (m *Mat) mulFloatRows(y, x []float32, n, lo, hi int) bool {
	if m.Cols%16 != 0 || Kernel == "generic" || m.Type != gguf.F32 && m.Type != gguf.F16 && m.Type != gguf.BF16 {
		return false
	}
	if Kernel != "avx512" && m.Type != gguf.F16 {
		return false
	}
	kt := 0 // kernelsF index
	switch m.Type {
	case gguf.F16:
		kt = 1
	case gguf.BF16:
		kt = 2
	}
	if Kernel == "avx512" { // one F32 token too: four rows give four independent chains
		var out [4 * floatMaxT]float32
		r4 := lo + (hi-lo)/4*4
		var sizesBuf [64]int
		sizes := evenTiles(n, floatMaxT, sizesBuf[:0])
		// The second and later token tiles of a block find its rows in
		// cache: they prefetch the next block's instead (kernelsFnb).
		pf := rowBlock(n) * m.rowBytes
		for rb := lo; rb < r4; rb += rowBlock(n) {
			rbe := min(rb+rowBlock(n), r4)
			t := 0
			for ti, T := range sizes {
				for r := rb; r < rbe; r += 4 {
					if ti == 0 {
						kernelsF[kt][T-1](&m.Row(r)[0], m.rowBytes, &x[t*m.Cols], m.Cols, m.Cols, &out[0])
					} else {
						kernelsFnb[kt][T-1](&m.Row(r)[0], m.rowBytes, &x[t*m.Cols], m.Cols, m.Cols, &out[0], pf)
					}
					for i := 0; i < 4; i++ {
						for k := 0; k < T; k++ {
							y[(t+k)*m.Rows+r+i] = out[T*i+k]
						}
					}
				}
				t += T
			}
		}
		lo = r4
	}
	// On AVX2, F16 rows in pairs take their first n/4·4 tokens four at a
	// time: rows [lo, paired), tokens [0, done).
	paired, done := lo, 0
	if Kernel == "avx2" && m.Type == gguf.F16 && n >= 4 {
		done = n / 4 * 4
		var out [8]float32
		for ; paired+2 <= hi; paired += 2 {
			row := m.Row(paired)
			for t := 0; t < done; t += 4 {
				pf := 0
				if t == 0 && paired+4 <= hi {
					pf = 1 // the first tile prefetches the next pair
				}
				tileF16r2t4AVX2(u16ptr(row), m.rowBytes, &x[t*m.Cols], m.Cols, m.Cols, &out[0], pf)
				for k := 0; k < 4; k++ {
					y[(t+k)*m.Rows+paired] = out[k]
					y[(t+k)*m.Rows+paired+1] = out[4+k]
				}
			}
		}
	}
	// The rest: row by row, token by token.
	for r := lo; r < hi; r++ {
		row := m.Row(r)
		t := 0
		if r < paired {
			t = done
		}
		for ; t < n; t++ {
			var v float32
			switch {
			case m.Type == gguf.F32:
				v = dot16AVX512(f32ptr(row), &x[t*m.Cols], m.Cols)
			case m.Type == gguf.BF16:
				v = tileBF16x1AVX512(u16ptr(row), &x[t*m.Cols], m.Cols)
			case Kernel == "avx512":
				v = tileF16x1AVX512(u16ptr(row), &x[t*m.Cols], m.Cols)
			default:
				v = tileF16x1AVX2(u16ptr(row), &x[t*m.Cols], m.Cols)
			}
			y[t*m.Rows+r] = v
		}
	}
	return true
}

type tileFunc func(w *byte, wstride int, x *float32, xstride int, cols int, out *float32)

// tileNextFunc is a tileFunc that prefetches the rows at w + pf instead of
// its own.
type tileNextFunc func(w *byte, wstride int, x *float32, xstride int, cols int, out *float32, pf int)

// floatMaxT is the widest tile: 4 rows × 6 tokens use 24 accumulators.
const floatMaxT = 6

// tileOut (attn.go) must hold what a four-row float kernel writes.
const _ = uint(tileOut - 4*floatMaxT)

// dotRowsTiled does DotRows in blocks of 16 cache rows (dotRows16AVX512),
// then four rows at a time with the F32 tiles, and returns the first row
// it did not do.
func dotRowsTiled(out []float32, ostride int, q []float32, nq, d int, k []float32, stride, n int, tmp []float32) int {
	if Kernel != "avx512" || d%16 != 0 {
		return 0
	}
	// Blocks of 16 rows: all queries per block, sums reduced 16 at a time.
	n16 := n / 16 * 16
	if n16 > 0 {
		dotRows16AVX512(&out[0], ostride, &q[0], nq, d, &k[0], stride, n16/16)
	}
	n4 := n / 4 * 4
	if n4 == n16 {
		return n4
	}
	// A buffer of its own would escape (the kernels are called through a
	// table) and be allocated at every call.
	buf := tmp
	if len(buf) < tileOut {
		buf = make([]float32, tileOut)
	}
	for a := n16; a < n4; a += 4 {
		for h := 0; h < nq; h += floatMaxT {
			T := min(floatMaxT, nq-h)
			kernelsF[0][T-1](f32bytes(k[a*stride:]), 4*stride, &q[h*d], d, d, &buf[0])
			for r := 0; r < 4; r++ {
				for t := 0; t < T; t++ {
					out[(h+t)*ostride+a+r] = buf[T*r+t]
				}
			}
		}
	}
	return n4
}

//go:noescape
func dotRows16AVX512(out *float32, ostride int, q *float32, nq int, d int, k *float32, kstride int, blocks int)

//go:noescape
func scaleMaxAVX512(x *float32, n int, s float32) float32

//go:noescape
func sumBlocks16AVX512(x *float32, n int) float64

func scaleMaxFast(x []float32, s float32) (float32, int) {
	n := len(x) / 16 * 16
	if Kernel != "avx512" || n == 0 {
		return float32(math.Inf(-1)), 0
	}
	return scaleMaxAVX512(&x[0], n, s), n
}

func sumBlocks16Fast(x []float32) (float64, int) {
	n := len(x)
	if Kernel != "avx512" || n == 0 {
		return 0, 0
	}
	return sumBlocks16AVX512(&x[0], n), n
}

//go:noescape
func accumRows16AVX512(rows *float32, d int, p *float32, v *float32, vstride int, n int, a0 int)

func accumRows16Fast(rows []float32, d int, p, v []float32, stride, n, a0 int) bool {
	if Kernel != "avx512" || d%16 != 0 {
		return false
	}
	if d%64 != 0 {
		accumRows16AVX512(&rows[0], d, &p[0], &v[0], stride, n, a0)
		return true
	}
	residues4(rows, d, n, a0, func(r [4]*float32, c, o, count, extra int) {
		accum4AVX512(r[0], r[1], r[2], r[3], &p[o], &v[o*stride+c], stride, count, extra)
	})
	return true
}

// residues4 calls f for every 64 columns c of the 16 rows and every four
// residues o..o+3 of the n positions (starting at residue a0): positions
// o, o+16, o+32 … all go to row (a0+o) mod 16, so four such residues at
// a time keep their rows (64 columns of them) in registers while the
// positions stream past. count positions of each residue, then one more
// for the first extra (0..3) of the four.
func residues4(rows []float32, d, n, a0 int, f func(r [4]*float32, c, o, count, extra int)) {
	for c := 0; c < d; c += 64 {
		for o := 0; o < 16 && o < n; o += 4 {
			count := 0
			if n-o-3 > 0 {
				count = (n - o - 3 + 15) / 16
			}
			extra := n - o - 16*count // 0..3
			var r [4]*float32
			for j := range r {
				r[j] = &rows[(a0+o+j)%16*d+c]
			}
			f(r, c, o, count, extra)
		}
	}
}

//go:noescape
func accumHeads4AVX512(r0, r1, r2, r3 *float32, p *float32, pstride int, v *float32, vstride int, count int)

// accumHeads4Fast is AccumRows16Heads4 with accumHeads4AVX512, for d a
// multiple of 64; false where it does not apply.
func accumHeads4Fast(rows []float32, d int, p []float32, pstride int, v []float32, stride, n, a0 int) bool {
	if Kernel != "avx512" || d%64 != 0 {
		return false
	}
	hs := 16 * d // one head's rows
	for c := 0; c < d; c += 64 {
		for o := 0; o < 16 && o < n; o++ {
			r := (a0+o)%16*d + c
			accumHeads4AVX512(&rows[r], &rows[hs+r], &rows[2*hs+r], &rows[3*hs+r],
				&p[o], pstride, &v[o*stride+c], stride, (n-o+15)/16)
		}
	}
	return true
}

//go:noescape
func accum4AVX512(r0, r1, r2, r3 *float32, p *float32, v *float32, vstride int, count int, extra int)

func f32bytes(x []float32) *byte { return (*byte)(unsafe.Pointer(&x[0])) }

//go:noescape
func scaleRoundF16AVX512(x *float32, n int, s float32)

// scaleRoundF16Fast does ScaleRoundF16 with the vector kernel (all of it)
// and returns how many elements it did (0 without AVX-512).
func scaleRoundF16Fast(x []float32, s float32) int {
	n := len(x)
	if Kernel != "avx512" || n == 0 {
		return 0
	}
	scaleRoundF16AVX512(&x[0], n, s)
	return n
}

//go:noescape
func reduceRows16AVX512(dst, rows *float32, d int)

func reduceRows16Fast(dst, rows []float32, d int) bool {
	if Kernel != "avx512" || d%16 != 0 || d == 0 {
		return false
	}
	reduceRows16AVX512(&dst[0], &rows[0], d)
	return true
}

//go:noescape
func f32ToF16AVX512(dst *uint16, src *float32, n int)

//go:noescape
func f16ToF32RowsAVX512(dst *float32, src *uint16, stride, d, n int)

// f32ToF16Fast converts the longest multiple of 16 of src with vcvtps2ph
// (nearest, ties to even: F32ToF16) and returns how many it did.
func f32ToF16Fast(dst []uint16, src []float32) int {
	n := len(src) / 16 * 16
	if Kernel != "avx512" || n == 0 {
		return 0
	}
	f32ToF16AVX512(&dst[0], &src[0], n)
	return n
}

// f16ToF32RowsFast is F16ToF32Rows with vcvtph2ps, for d a multiple of 16.
func f16ToF32RowsFast(dst []float32, src []uint16, stride, d, n int) bool {
	switch {
	case Kernel == "avx512" && d%16 == 0:
		f16ToF32RowsAVX512(&dst[0], &src[0], stride, d, n)
	case Kernel == "avx2" && d%8 == 0:
		// Attention's value and key rows on AVX2 machines, which widened
		// them in Go: a tenth of a 1.1B Q4_K decoding step there.
		f16ToF32RowsAVX2(&dst[0], &src[0], stride, d, n)
	default:
		return false
	}
	return true
}

//go:noescape
func f16ToF32RowsAVX2(dst *float32, src *uint16, stride, d, n int)

//go:noescape
func dotRows16F16AVX512(out *float32, ostride int, q *float32, nq int, d int, k *uint16, kstride int, blocks int)

//go:noescape
func accumHeads4F16AVX512(r0, r1, r2, r3 *float32, p *float32, pstride int, v *uint16, vstride int, count int)

//go:noescape
func accum4F16AVX512(r0, r1, r2, r3 *float32, p *float32, v *uint16, vstride int, count int, extra int)

//go:noescape
func accumRows16F16AVX512(rows *float32, d int, p *float32, v *uint16, vstride int, n int, a0 int)

// dotRowsF16Tiled is dotRowsTiled on float16 rows, blocks of 16 rows only
// (dotRows16F16AVX512); DotRowsF16 takes the rest a row at a time.
func dotRowsF16Tiled(out []float32, ostride int, q []float32, nq, d int, k []uint16, stride, n int) int {
	if Kernel != "avx512" || d%16 != 0 {
		return 0
	}
	n16 := n / 16 * 16
	if n16 > 0 {
		dotRows16F16AVX512(&out[0], ostride, &q[0], nq, d, &k[0], stride, n16/16)
	}
	return n16
}

// accumRows16F16Fast is accumRows16Fast on float16 value rows.
func accumRows16F16Fast(rows []float32, d int, p []float32, v []uint16, stride, n, a0 int) bool {
	if Kernel != "avx512" || d%16 != 0 {
		return false
	}
	if d%64 != 0 {
		accumRows16F16AVX512(&rows[0], d, &p[0], &v[0], stride, n, a0)
		return true
	}
	residues4(rows, d, n, a0, func(r [4]*float32, c, o, count, extra int) {
		accum4F16AVX512(r[0], r[1], r[2], r[3], &p[o], &v[o*stride+c], stride, count, extra)
	})
	return true
}

// accumHeads4F16Fast is accumHeads4Fast on float16 value rows.
func accumHeads4F16Fast(rows []float32, d int, p []float32, pstride int, v []uint16, stride, n, a0 int) bool {
	if Kernel != "avx512" || d%64 != 0 {
		return false
	}
	hs := 16 * d
	for c := 0; c < d; c += 64 {
		for o := 0; o < 16 && o < n; o++ {
			r := (a0+o)%16*d + c
			accumHeads4F16AVX512(&rows[r], &rows[hs+r], &rows[2*hs+r], &rows[3*hs+r],
				&p[o], pstride, &v[o*stride+c], stride, (n-o+15)/16)
		}
	}
	return true
}
