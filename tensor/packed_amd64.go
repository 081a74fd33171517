package tensor

import (
	"golang.org/x/sys/cpu"

	"s4c/gguf"
)

var hasVNNI = cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW

func intKernels() bool { return Kernel == "avx512" && hasVNNI }

// mulIntRows computes rows [lo, hi) of y for quantized activations a.
func (m *Mat) mulIntRows(y []float32, a *pkActs, n, lo, hi int) {
	typ := 0
	switch m.Type {
	case gguf.Q4_0:
		typ = 1
	case gguf.Q4_K:
		typ = 2
	case gguf.Q6_K:
		typ = 3
	}
	p, tok := m.pk, a.groups*pkRecBytes
	var out [4 * packedMaxT]float32
	var sizesBuf [64]int
	sizes := evenTiles(n, packedMaxT, sizesBuf[:0])
	r := lo
	for ; r < hi; r += 4 {
		R, ri := 4, 1
		if hi-r < 4 || n <= rowByRow {
			R, ri = 1, 0
		}
		t := 0
		for _, T := range sizes {
			pkKernels[typ][ri][T-1](&p.data[r*p.stride], p.stride, &a.buf[t*tok], tok, p.groups, &out[0])
			for i := 0; i < R; i++ {
				for k := 0; k < T; k++ {
					y[(t+k)*m.Rows+r+i] = out[T*i+k]
				}
			}
			t += T
		}
		if R == 1 {
			r -= 3
		}
	}
}

const packedMaxT = 3 // most tokens per kernel call (register budget)

// rowByRow is the largest batch multiplied one row at a time (one
// sequential stream per thread; measured no slower than 4-row tiles).
const rowByRow = 1
