package tensor

import (
	"math"
	"math/rand"
	"testing"
)

// TestAdamWKernelMatchesGo holds the vector AdamW step to the portable
// loop bit for bit, with and without weight decay, on lengths with and
// without a tail, over several steps (so the moments feed back).
func TestAdamWKernelMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, n := range []int{1, 7, 8, 9, 64, 1003} {
		for _, wd := range []float32{0, 0.01} {
			p, m, v := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range p {
				p[i] = float32(rng.NormFloat64())
			}
			p2, m2, v2 := append([]float32(nil), p...), make([]float32, n), make([]float32, n)
			for step := 1; step <= 5; step++ {
				g := make([]float32, n)
				for i := range g {
					g[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.Intn(10)-6)))
				}
				c := &AdamW{Inv: 1.0 / 64, B1: 0.9, NB1: 0.1, B2: 0.999, NB2: 0.001,
					IC1: float32(1 / (1 - math.Pow(0.9, float64(step)))), IC2: float32(1 / (1 - math.Pow(0.999, float64(step)))),
					Eps: 1e-8, LR: 1e-3, LRWD: 1e-3 * wd}
				AdamWStep(p, m, v, g, c)
				adamWGo(p2, m2, v2, g, c)
				for i := range p {
					if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || math.Float32bits(m[i]) != math.Float32bits(m2[i]) ||
						math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
						t.Fatalf("n=%d wd=%v step %d element %d: kernel p,m,v = %v %v %v; Go %v %v %v", n, wd, step, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
					}
				}
			}
		}
	}
	t.Logf("kernel in use: %s", Kernel)
}
