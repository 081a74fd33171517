package model

import (
	"math"

	"s4c/tensor"
)

// attention computes, for every pass row i and head h, softmax(q·Kᵀ/√d)·V
// over the cache rows row i sees in its own sequence's cache (its part's
// visible list, or the sliding window's on windowed layers), writing s.att.
//
// By default keys and values are stored as float16 (as llama.cpp's default
// cache does), queries and attention weights are rounded to float16 before
// their products (State.UseKVF32 keeps all of them float32), and sums are
// accumulated in float64: this reproduces the
// reference engine's numerics closely, and every (token, head) is computed by
// the same ordered arithmetic whatever the batch (batch invariance).
//
// In a decoding pass (prepare set: one token per sequence) each work item
// first readies its own heads (see prepareHeads), on its own thread: no
// item reads another's new cache row.
func (s *State) attention(l, n int, parts []part, rowPart []int32, windowed bool, angles []float32, prepare bool) {
	m := s.M
	hd := m.HeadDim
	qd := m.Heads * hd
	group := m.Heads / m.KVHeads
	scale := 1 / float32(math.Sqrt(float64(hd)))
	if m.QueryScale != 0 {
		scale = m.QueryScale
	}
	// One work item per (token, kv head): the query heads of a GQA group
	// share each cache row they read.
	//
	// Items are dealt out from both ends (0, last, 1, last-1, …), so that
	// each thread's contiguous share of a prompt holds early tokens (few
	// rows to attend to) and late ones (many) alike: with plain halves
	// the second thread had three quarters of a causal prompt's work.
	items := n * m.KVHeads
	s.Pool.Run(items, 1, func(lo, hi int, sc *tensor.Scratch) {
		for j := lo; j < hi; j++ {
			it := j / 2
			if j%2 == 1 {
				it = items - 1 - j/2
			}
			i, g := it/m.KVHeads, it%m.KVHeads
			if prepare {
				s.prepareHeads(l, i, g, angles, parts, rowPart)
			}
			pt := &parts[rowPart[i]]
			c := pt.s.Cache
			vis := pt.visible[i-pt.off]
			if windowed {
				vis = pt.visibleW[i-pt.off]
			}
			nv := len(vis)
			// wide holds key rows widened from float16 (see DotRowsF16).
			nw := tensor.DotRowsF16Buf(hd)
			// Each piece starts on a 64-byte line, so that the kernels'
			// 16-float vectors never straddle two: cut one after another,
			// a piece after a row count that is not a multiple of 16
			// (most steps) put every load and store of the next ones
			// across two lines, and decoding's scores took 15 % longer.
			buf := sc.AlignedFloats(lineUp(group*nv) + lineUp(group*hd) + lineUp(4*16*hd) + nw)
			cut := func(n int) []float32 {
				p := buf[:n:n]
				buf = buf[min(lineUp(n), len(buf)):]
				return p
			}
			all := cut(group * nv) // all[k·nv+a]: head k of the group, row a
			qs := cut(group * hd)
			rows := cut(4 * 16 * hd)
			wide := cut(nw)
			h0 := g * group
			copy(qs, s.q[i*qd+h0*hd:i*qd+(h0+group)*hd])
			scaleRound(c, qs, 1)
			// Runs of consecutive cache rows (the prompt, then each tree
			// path) are read as strided matrices.
			runs := func(f func(a, b int)) {
				for a := 0; a < nv; {
					b := a + 1
					for b < nv && vis[b] == vis[b-1]+1 {
						b++
					}
					f(a, b)
					a = b
				}
			}
			if pt.n == 1 {
				// A decoding step's rows come from memory: read them
				// in first (see tensor.Warm). In a pass of several
				// tokens the same rows serve them all from the cache.
				runs(func(a, b int) {
					if k, v := c.headRows16(l, g, int(vis[a])); k != nil {
						tensor.Warm(k[:(b-a)*hd])
						tensor.Warm(v[:(b-a)*hd])
					} else {
						k, v := c.headRows32(l, g, int(vis[a]))
						tensor.Warm(k[:(b-a)*hd])
						tensor.Warm(v[:(b-a)*hd])
					}
				})
			}
			runs(func(a, b int) {
				if k, _ := c.headRows16(l, g, int(vis[a])); k != nil {
					tensor.DotRowsF16(all[a:], nv, qs, group, k, hd, b-a, wide)
				} else {
					k, _ := c.headRows32(l, g, int(vis[a]))
					tensor.DotRows(all[a:], nv, qs, group, k, hd, b-a)
				}
			})
			for k := 0; k < group; k++ {
				scores := all[k*nv : (k+1)*nv]
				mx := tensor.ScaleMax(scores, scale)
				if c := m.AttnSoftcap; c > 0 {
					tensor.Softcap(scores, c)
					mx = c * float32(math.Tanh(float64(mx/c))) // tanh is increasing
				}
				tensor.ExpShift(scores, scores, mx)
				// Summed in blocks of 16 lanes, as a vector unit does.
				sum := tensor.SumBlocks16(scores)
				scaleRound(c, scores, float32(1/sum))
			}
			// Sixteen accumulator rows per head: position a adds into row
			// a%16 (the lanes of llama.cpp's AVX-512 kernel), then rows
			// are reduced as a tree. Four heads of the group at a time
			// share each value row's loads.
			for k := 0; k < group; {
				heads := 1
				if group-k >= 4 {
					heads = 4
				}
				r := rows[:heads*16*hd]
				clear(r)
				runs(func(a, b int) {
					p := all[k*nv+a:]
					_, v16 := c.headRows16(l, g, int(vis[a]))
					_, v32 := c.headRows32(l, g, int(vis[a]))
					switch {
					case heads == 4 && v16 != nil:
						tensor.AccumRows16Heads4F16(r, hd, p, nv, v16, hd, b-a, a)
					case heads == 4:
						tensor.AccumRows16Heads4(r, hd, p, nv, v32, hd, b-a, a)
					case v16 != nil:
						tensor.AccumRows16F16(r, hd, p[:b-a], v16, hd, b-a, a)
					default:
						tensor.AccumRows16(r, hd, p[:b-a], v32, hd, b-a, a)
					}
				})
				for j := 0; j < heads; j++ {
					h := h0 + k + j
					tensor.ReduceRows16(s.att[i*qd+h*hd:i*qd+(h+1)*hd], r[j*16*hd:(j+1)*16*hd], hd)
				}
				k += heads
			}
		}
	})
}

// lineUp rounds a count of float32s up to whole 64-byte lines.
func lineUp(n int) int { return (n + 15) &^ 15 }

// scaleRound sets x[i] = round(x[i]·f), where rounding is to the precision
// of the attention operands: float16 (llama.cpp's default cache type)
// unless the cache is float32 (State.UseKVF32).
func scaleRound(c *KVCache, x []float32, f float32) {
	if !c.f16Precision() {
		if f != 1 {
			for i := range x {
				x[i] *= f
			}
		}
		return
	}
	tensor.ScaleRoundF16(x, f)
}
