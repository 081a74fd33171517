package tensor

import (
	"math"
	"math/rand"
	"testing"
)

// TestF16Rows: the vector conversions of KV cache rows give bitwise what
// F32ToF16 and F16ToF32 give, for ordinary values, ties, subnormals,
// overflow, infinities and every float16 bit pattern.
func TestF16Rows(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	src := make([]float32, 16*70+5)
	for i := range src {
		switch i % 7 {
		case 0:
			src[i] = float32(rng.NormFloat64() * 1e-6) // float16 subnormals
		case 1:
			src[i] = float32(rng.NormFloat64() * 7e4) // beyond 65504: infinities
		case 2:
			// Exactly halfway between two float16 values: ties to even.
			h := F16ToF32(uint16(rng.Intn(0x7b00)))
			src[i] = h + (F16ToF32(F32ToF16(h)+1)-h)/2
		default:
			src[i] = float32(rng.NormFloat64() * 3)
		}
	}
	src[3], src[10] = float32(math.Inf(-1)), 0
	want := make([]uint16, len(src))
	for i, x := range src {
		want[i] = F32ToF16(x)
	}
	got := make([]uint16, len(src))
	F32ToF16Row(got, src)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("F32ToF16Row element %d (%g): %#04x, want %#04x", i, src[i], got[i], want[i])
		}
	}
	// Every non-NaN float16 pattern, as rows of d = 16 and d = 8 (the
	// portable path) taken with a stride.
	all := make([]uint16, 0, 1<<16)
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads need not survive
		}
		all = append(all, uint16(h))
	}
	for _, d := range []int{16, 64, 8} {
		stride := d + 16
		n := len(all) / stride
		out := make([]float32, n*d)
		F16ToF32Rows(out, all, stride, d, n)
		for a := 0; a < n; a++ {
			for i := 0; i < d; i++ {
				h := all[a*stride+i]
				if math.Float32bits(out[a*d+i]) != math.Float32bits(F16ToF32(h)) {
					t.Fatalf("d=%d row %d element %d (%#04x): %g, want %g", d, a, i, h, out[a*d+i], F16ToF32(h))
				}
			}
		}
	}
}

// TestAttentionF16: the attention kernels on float16 cache rows give
// bitwise what their float32 twins give on the same rows widened, for
// head widths that take each vector kernel and ones that take none, runs
// of rows that fill blocks of 16 and ones that do not, any starting
// residue; with this machine's kernels and the portable code.
func TestAttentionF16(t *testing.T) { eachKernel(t, testAttentionF16) }

func testAttentionF16(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	// n 200: many blocks of 16 rows; d 512: rows of several cache lines.
	for _, d := range []int{8, 16, 48, 64, 128, 512} {
		for _, n := range []int{1, 5, 15, 16, 17, 33, 40, 200} {
			stride := 4*d + 8
			h := make([]uint16, n*stride)
			for i := range h {
				h[i] = F32ToF16(float32(rng.NormFloat64()))
			}
			w := make([]float32, len(h))
			for i, x := range h {
				w[i] = F16ToF32(x)
			}
			// Scores of 3 query heads.
			const nq = 3
			q := make([]float32, nq*d)
			for i := range q {
				q[i] = float32(rng.NormFloat64())
			}
			want := make([]float32, nq*(n+2))
			DotRows(want, n+2, q, nq, w, stride, n)
			// Without a buffer, and with buffers of one block of 16 rows
			// and of several (the rows widened chunk by chunk).
			for _, buf := range [][]float32{nil, make([]float32, 16*d+tileOut), make([]float32, 64*d+3)} {
				got := make([]float32, nq*(n+2))
				DotRowsF16(got, n+2, q, nq, h, stride, n, buf)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("DotRowsF16 d=%d n=%d buffer %d: out[%d] = %v, float32 %v", d, n, len(buf), i, got[i], want[i])
					}
				}
			}
			// Weighted sums of the value rows, one head and four.
			pstride := n + 7
			p := make([]float32, 3*pstride+n)
			for i := range p {
				p[i] = rng.Float32()
			}
			for _, a0 := range []int{0, 3, 15} {
				start := make([]float32, 5*16*d) // one head's rows, then four heads'
				for i := range start {
					start[i] = float32(rng.NormFloat64())
				}
				got := append([]float32(nil), start...)
				want := append([]float32(nil), start...)
				AccumRows16F16(got[:16*d], d, p[:n], h, stride, n, a0)
				AccumRows16(want[:16*d], d, p[:n], w, stride, n, a0)
				AccumRows16Heads4F16(got[16*d:], d, p, pstride, h, stride, n, a0)
				AccumRows16Heads4(want[16*d:], d, p, pstride, w, stride, n, a0)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("AccumRows16(Heads4)F16 d=%d n=%d a0=%d: rows[%d] = %v, float32 %v", d, n, a0, i, got[i], want[i])
					}
				}
			}
		}
	}
}
