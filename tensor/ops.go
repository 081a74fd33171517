package tensor

import "math"

// RMSNorm writes x / sqrt(mean(x²) + eps) * w into dst.
func RMSNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v * v)
	}
	mean := float32(ss / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// Softmax normalises x in place.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// SiLU returns x·sigmoid(x).
func SiLU(x float32) float32 { return x / (1 + Exp(-x)) }

// SwiGLU writes silu(gate[i]) * up[i] into gate (each element on its own,
// so the result does not depend on how rows are batched).
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	i := swiGLUExpFast(gate, up)
	gate, up = gate[i:], up[i:]
	var e [256]float32 // Exp(-g) for a chunk, with the vector exponential
	for lo := 0; lo < len(gate); lo += len(e) {
		g := gate[lo:min(lo+len(e), len(gate))]
		ex := e[:len(g)]
		for i, v := range g {
			ex[i] = -v
		}
		ExpShift(ex, ex, 0)
		for i, v := range g {
			g[i] = v / (1 + ex[i]) * up[lo+i] // SiLU(v)·up
		}
	}
}

// Axpy adds a*x to y.
func Axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// Add adds x to y.
func Add(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// Rope holds the rotary embedding parameters of a model.
type Rope struct {
	Dims      int       // rotated dimensions per head (rope.dimension_count)
	Base      float64   // frequency base θ
	FreqScale float64   // 1/linear scaling factor (1 = none)
	Factors   []float32 // optional per-pair frequency divisors (rope_freqs.weight: llama3 scaling)
	Neox      bool      // pairs (i, i+Dims/2) instead of (2i, 2i+1)
}

// Angles fills cs (len Dims) with the cos/sin pairs for position pos:
// cs[2i] = cos θ_i, cs[2i+1] = sin θ_i. Computed once per token and shared by
// every head and layer.
func (r *Rope) Angles(pos int, cs []float32) {
	// θ_i = pos·base^(-2i/d), computed as llama.cpp does: a float32 running
	// product, so positions give bit-identical angles in both engines.
	step := float32(math.Pow(r.Base, -2/float64(r.Dims)))
	theta := float32(pos)
	for i := 0; i < r.Dims/2; i++ {
		t := theta * float32(r.FreqScale)
		if r.Factors != nil {
			t = theta / r.Factors[i] * float32(r.FreqScale)
		}
		sin, cos := math.Sincos(float64(t))
		cs[2*i], cs[2*i+1] = float32(cos), float32(sin)
		theta *= step
	}
}

// Apply rotates one head vector (len >= Dims) by the angles cs from Angles.
func (r *Rope) Apply(x, cs []float32) {
	r.applyFrom(x, cs, r.ropeFast(x, cs))
}

// ApplyHeads rotates heads head vectors of hd values each, laid end to end
// in x, by the same angles.
func (r *Rope) ApplyHeads(x []float32, heads, hd int, cs []float32) {
	for h := 0; h < heads; h++ {
		r.Apply(x[h*hd:(h+1)*hd], cs)
	}
}

// applyFrom rotates pairs i0.. of one head: the portable form of the
// vector kernels, each product rounded before the sum (the explicit
// conversions forbid fusing them into one multiply-add).
func (r *Rope) applyFrom(x, cs []float32, i0 int) {
	half := r.Dims / 2
	for i := i0; i < half; i++ {
		c, s := cs[2*i], cs[2*i+1]
		a, b := 2*i, 2*i+1
		if r.Neox {
			a, b = i, i+half
		}
		x0, x1 := x[a], x[b]
		x[a] = float32(x0*c) - float32(x1*s)
		x[b] = float32(x0*s) + float32(x1*c)
	}
}
