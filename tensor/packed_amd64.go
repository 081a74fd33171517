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
	var T int
	r := lo
	for ; r < hi; r += 4 {
		R, ri := 4, 1
		if hi-r < 4 || n <= rowByRow {
			R, ri = 1, 0
		}
		tiles := (n + packedMaxT - 1) / packedMaxT
		for t, k := 0, 0; t < n; t, k = t+T, k+1 {
			// Tokens spread evenly over the fewest tiles (4 = 2+2, not
			// 3+1): each tile streams the rows once.
			T = (n - t + tiles - k - 1) / (tiles - k)
			pkKernels[typ][ri][T-1](&p.data[r*p.stride], p.stride, &a.buf[t*tok], tok, p.groups, &out[0])
			for i := 0; i < R; i++ {
				for k := 0; k < T; k++ {
					y[(t+k)*m.Rows+r+i] = out[T*i+k]
				}
			}
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
