package tensor

import "math"

// AdamW holds one optimiser step's constants for AdamWStep: the
// gradient's scale (1/batch), the moment decays, the bias corrections as
// reciprocals, the learning rate, and learning rate × weight decay (0: no
// decay).
type AdamW struct {
	Inv, B1, NB1, B2, NB2, IC1, IC2, Eps, LR, LRWD float32
}

// AdamWStep applies one AdamW update to the parameters p with moments m
// and v and the summed gradient g (all the same length), in float32:
//
//	g' = g·Inv
//	m = B1·m + NB1·g'
//	v = B2·v + NB2·g'²
//	p -= LR·(m·IC1)/(√(v·IC2) + Eps) + LRWD·p
//
// Every operation is rounded to float32 in that order (no fused
// multiply-adds), so the vector kernel and the portable loop agree bit
// for bit. It is the whole per-step cost of training heads besides the
// products, once per parameter (6M of them for the 1.1B twin's heads):
// the scalar float64 loop took a third of a training step.
func AdamWStep(p, m, v, g []float32, c *AdamW) {
	n := len(p)
	m, v, g = m[:n], v[:n], g[:n]
	i := adamWFast(p, m, v, g, c)
	adamWGo(p[i:], m[i:], v[i:], g[i:], c)
}

func adamWGo(p, m, v, g []float32, c *AdamW) {
	m, v, g = m[:len(p)], v[:len(p)], g[:len(p)]
	for i := range p {
		gi := g[i] * c.Inv
		m[i] = float32(c.B1*m[i]) + float32(c.NB1*gi)
		v[i] = float32(c.B2*v[i]) + float32(c.NB2*float32(gi*gi))
		den := float32(math.Sqrt(float64(float32(v[i]*c.IC2)))) + c.Eps
		step := float32(float32(c.LR*float32(m[i]*c.IC1))/den) + float32(c.LRWD*p[i])
		p[i] -= step
	}
}
