package model

import (
	"math"

	"s4c/tensor"
)

// attention computes, for every batch token i and head h, softmax(q·Kᵀ/√d)·V
// over the cache rows visible[i], writing s.att.
//
// By default keys and values are held at float16 precision (as llama.cpp's
// default cache does), queries and attention weights are rounded to float16
// before their products (State.KVF32 keeps all of them float32), and sums are accumulated in float64: this reproduces the
// reference engine's numerics closely, and every (token, head) is computed by
// the same ordered arithmetic whatever the batch (batch invariance).
func (s *State) attention(l, n int, visible [][]int32) {
	m, c := s.M, s.Cache
	hd, kvd := m.HeadDim, m.KVDim()
	qd := m.Heads * hd
	group := m.Heads / m.KVHeads
	scale := 1 / float32(math.Sqrt(float64(hd)))
	s.Pool.Run(n*m.Heads, 1, func(lo, hi int, sc *tensor.Scratch) {
		for it := lo; it < hi; it++ {
			i, h := it/m.Heads, it%m.Heads
			vis := visible[i]
			buf := sc.Floats(len(vis) + 18*hd)
			scores, q, acc, rows := buf[:len(vis)], buf[len(vis):len(vis)+hd], buf[len(vis)+hd:len(vis)+2*hd], buf[len(vis)+2*hd:]
			for d, v := range s.q[i*qd+h*hd : i*qd+(h+1)*hd] {
				q[d] = s.round(v)
			}
			ko := (h / group) * hd
			kl, vl := c.K[l], c.V[l]
			mx := float32(math.Inf(-1))
			for a, j := range vis {
				scores[a] = tensor.Dot(q, kl[int(j)*kvd+ko:int(j)*kvd+ko+hd]) * scale
				mx = max(mx, scores[a])
			}
			// Sum in blocks of 16 lanes, as a vector unit does.
			var sum float64
			var lanes [16]float32
			for a, v := range scores {
				e := tensor.Exp(v - mx)
				scores[a] = e
				lanes[a%16] = e
				if a%16 == 15 || a == len(scores)-1 {
					for r := a%16 + 1; r < 16; r++ {
						lanes[r] = 0
					}
					sum += float64(tensor.Reduce16(&lanes))
				}
			}
			inv := float32(1 / sum)
			for a := range scores {
				scores[a] = s.round(scores[a] * inv)
			}
			out := s.att[i*qd+h*hd : i*qd+(h+1)*hd]
			// Sixteen accumulator rows: position a adds into row a%16 (the
			// lanes of llama.cpp's AVX-512 kernel), then rows are reduced as a
			// tree.
			clear(rows)
			for a, j := range vis {
				r := (a % 16) * hd
				tensor.FMARow(rows[r:r+hd], scores[a], vl[int(j)*kvd+ko:int(j)*kvd+ko+hd])
			}
			for l := 0; l < 8; l++ {
				tensor.Add(rows[l*hd:(l+1)*hd], rows[(l+8)*hd:(l+9)*hd])
			}
			for l := 0; l < 4; l++ {
				tensor.Add(rows[l*hd:(l+1)*hd], rows[(l+4)*hd:(l+5)*hd])
			}
			for d := range acc {
				acc[d] = (rows[d] + rows[2*hd+d]) + (rows[hd+d] + rows[3*hd+d])
			}
			copy(out, acc)
		}
	})
}

func roundF16(x float32) float32 { return tensor.RoundF16(x) }

// round is the precision of the attention operands: float16 (llama.cpp's
// default cache type) unless the state keeps float32.
func (s *State) round(x float32) float32 {
	if s.KVF32 {
		return x
	}
	return roundF16(x)
}
