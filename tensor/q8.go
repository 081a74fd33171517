package tensor

import (
	"encoding/binary"
	"math"

	"s4c/gguf"
)

// Integer kernels for Q8_0 weights. Activations are quantized per token to
// int8 in blocks of 32 (scale = max|x|/127), and each pair of weight blocks
// (64 values) is multiplied with a pair of activation blocks by one
// 512-bit vpdpbusd: unsigned bytes (weights + 128) times signed bytes
// (activations), summed in groups of four into 16 int32 lanes. The +128
// offset is removed exactly by adding -128·Σx of the block to the block's
// first lane. Lanes are converted to float, scaled by d_w·d_x and
// accumulated with fused multiply-adds into 16 float lanes, which are
// reduced as a tree at the end (as Dot does).
//
// The activation side of a pair is one 192-byte record: 64 int8 values,
// 16 float32 lane scales d_x, and 16 int32 lane corrections.

const q8RecBytes = 192

// q8Acts holds n quantized activation vectors, each nchunks records long.
type q8Acts struct {
	buf     []byte
	nchunks int
}

// quantizeActs fills a with n vectors of x (n × cols).
func quantizeActs(a *q8Acts, x []float32, n, cols int) {
	a.nchunks = cols / 64
	need := n * a.nchunks * q8RecBytes
	if cap(a.buf) < need {
		a.buf = make([]byte, need)
	}
	a.buf = a.buf[:need]
	le := binary.LittleEndian
	for t := 0; t < n; t++ {
		xv := x[t*cols : (t+1)*cols]
		for c := 0; c < a.nchunks; c++ {
			rec := a.buf[(t*a.nchunks+c)*q8RecBytes:][:q8RecBytes]
			for half := 0; half < 2; half++ {
				blk := xv[64*c+32*half : 64*c+32*half+32]
				amax := absMax(blk)
				d := amax / 127
				inv := float32(0)
				if d != 0 {
					inv = 1 / d
				}
				sum := int32(0)
				for j, v := range blk {
					q := int8(math.RoundToEven(float64(v * inv)))
					rec[32*half+j] = byte(q)
					sum += int32(q)
				}
				for l := 0; l < 8; l++ {
					le.PutUint32(rec[64+4*(8*half+l):], math.Float32bits(d))
					corr := int32(0)
					if l == 0 {
						corr = -128 * sum
					}
					le.PutUint32(rec[128+4*(8*half+l):], uint32(corr))
				}
			}
		}
	}
}

// q8Dot is the portable form of the Q8_0 kernel for one row and one token.
func q8Dot(row []byte, rec []byte, nchunks int) float32 {
	le := binary.LittleEndian
	var acc [16]float32
	for c := 0; c < nchunks; c++ {
		r := rec[c*q8RecBytes:]
		for half := 0; half < 2; half++ {
			blk := row[(2*c+half)*34:]
			dw := F16ToF32(le.Uint16(blk))
			for l := 0; l < 8; l++ {
				lane := 8*half + l
				s := int32(le.Uint32(r[128+4*lane:]))
				for i := 0; i < 4; i++ {
					u := int32(blk[2+4*l+i] ^ 0x80) // w + 128
					s += u * int32(int8(r[32*half+4*l+i]))
				}
				dx := math.Float32frombits(le.Uint32(r[64+4*lane:]))
				acc[lane] = FMA32(float32(s), dw*dx, acc[lane])
			}
		}
	}
	return Reduce16(&acc)
}

// q4Dot is the portable form of the Q4_0 kernel: the weights' nibbles are
// unsigned (0..15) in the dot product and the records' -128·Σx correction
// becomes -8·Σx (an exact shift), so Σ (q-8)·x is computed exactly.
func q4Dot(row []byte, rec []byte, nchunks int) float32 {
	le := binary.LittleEndian
	var acc [16]float32
	for c := 0; c < nchunks; c++ {
		r := rec[c*q8RecBytes:]
		for half := 0; half < 2; half++ {
			blk := row[(2*c+half)*18:]
			dw := F16ToF32(le.Uint16(blk))
			for l := 0; l < 8; l++ {
				lane := 8*half + l
				s := int32(le.Uint32(r[128+4*lane:])) >> 4
				for i := 0; i < 4; i++ {
					e := 4*l + i
					var u int32
					if e < 16 {
						u = int32(blk[2+e] & 0xf)
					} else {
						u = int32(blk[2+e-16] >> 4)
					}
					s += u * int32(int8(r[32*half+e]))
				}
				dx := math.Float32frombits(le.Uint32(r[64+4*lane:]))
				acc[lane] = FMA32(float32(s), dw*dx, acc[lane])
			}
		}
	}
	return Reduce16(&acc)
}

// useQ8 reports whether m is multiplied with the integer kernels: where the
// machine has AVX-512 VNNI. Elsewhere the weights are decoded to float32 and
// multiplied with the float kernels (faster there than the portable integer
// twin, which exists to hold the assembly to account).
func (m *Mat) useQ8() bool {
	return (m.Type == gguf.Q8_0 || m.Type == gguf.Q4_0) && m.Cols%64 == 0 && intKernels()
}

// intDot is the portable integer kernel for m's type.
func (m *Mat) intDot(row, rec []byte, nchunks int) float32 {
	if m.Type == gguf.Q4_0 {
		return q4Dot(row, rec, nchunks)
	}
	return q8Dot(row, rec, nchunks)
}

// mulQ8Rows computes rows [lo, hi) of y for quantized activations a.
func (m *Mat) mulQ8Rows(y []float32, a *q8Acts, n, lo, hi int) {
	tok := a.nchunks * q8RecBytes
	lo = m.q8Rows4(y, a, n, lo, hi)
	for r := lo; r < hi; r++ {
		row := m.Row(r)
		for t := 0; t < n; t++ {
			y[t*m.Rows+r] = m.intDot1(row, a.buf[t*tok:(t+1)*tok], a.nchunks)
		}
	}
}
