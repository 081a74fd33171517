package tensor

import (
	"math"
	"sync"
)

// RMSNorm sets dst = x / sqrt(mean(x²) + eps) ⊙ w. The squares are summed
// in float64 (as ggml does) in 16 lanes, one per position mod 16, so that
// a vector unit does it without a chain of dependent adds (a 2048-wide
// norm: ~1.3 µs scalar); the tail past the last multiple of 16 is added
// in order.
func RMSNorm(dst, x, w []float32, eps float32) {
	ss, n := sumSquares16(x)
	for _, v := range x[n:] {
		ss += float64(v * v)
	}
	mean := float32(ss / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	w = w[:len(x)]
	dst = dst[:len(x)]
	for i := scaleMul16(dst, x, w, scale); i < len(x); i++ {
		dst[i] = x[i] * scale * w[i]
	}
}

// sumSquaresGo is the portable form of the sum of squares of RMSNorm (len
// x a multiple of 16): lane j adds float64(x[i]²) for i ≡ j mod 16; the
// lanes are then reduced as l+8, l+4, l+2, then 0+1.
func sumSquaresGo(x []float32) float64 {
	var l [16]float64
	for i := 0; i < len(x); i += 16 {
		for j, v := range x[i : i+16] {
			l[j] += float64(v * v)
		}
	}
	for j := 0; j < 8; j++ {
		l[j] += l[j+8]
	}
	for j := 0; j < 4; j++ {
		l[j] += l[j+4]
	}
	for j := 0; j < 2; j++ {
		l[j] += l[j+2]
	}
	return l[0] + l[1]
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

// SiLUs sets x[i] = SiLU(x[i]), the exponentials taken by the vector
// kernel a chunk at a time (the scalar Exp rounds each multiply-add
// exactly, which costs about 25 ns).
func SiLUs(x []float32) {
	var e [256]float32
	for lo := 0; lo < len(x); lo += len(e) {
		g := x[lo:min(lo+len(e), len(x))]
		ex := expNeg(&e, g)
		for i, v := range g {
			g[i] = v / (1 + ex[i])
		}
	}
}

// expNeg fills the start of e with Exp(-g[i]) (len(g) <= 256) by the
// vector exponential and returns that part.
func expNeg(e *[256]float32, g []float32) []float32 {
	ex := e[:len(g)]
	for i, v := range g {
		ex[i] = -v
	}
	ExpShift(ex, ex, 0)
	return ex
}

// SwiGLU writes silu(gate[i]) * up[i] into gate (each element on its own,
// so the result does not depend on how rows are batched).
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	i := swiGLUExpFast(gate, up)
	gate, up = gate[i:], up[i:]
	var e [256]float32 // Exp(-g) for a chunk, with the vector exponential
	for lo := 0; lo < len(gate); lo += len(e) {
		g := gate[lo:min(lo+len(e), len(gate))]
		ex := expNeg(&e, g)
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

// GeGLU sets gate[i] = GELU(gate[i])·up[i] with GELU as llama.cpp's CPU
// backend computes it (Gemma's FFN): 0 at or below -10, the identity at or
// above 10, and in between the tanh approximation looked up in a float16
// table: fp16(gelu(fp16(x))).
func GeGLU(gate, up []float32) {
	t := geluTable()
	up = up[:len(gate)]
	for i, x := range gate {
		var g float32
		switch {
		case x <= -10:
			g = 0
		case x >= 10:
			g = x
		default:
			g = F16ToF32(t[F32ToF16(x)])
		}
		gate[i] = g * up[i]
	}
}

// geluTable maps every float16 to fp16(gelu_tanh(x)), computed in float32
// in ggml's order of operations.
var geluTable = sync.OnceValue(func() *[1 << 16]uint16 {
	var t [1 << 16]uint16
	const sqrt2OverPi, coefA = float32(0.79788456080286535587989211986876), float32(0.044715)
	for i := range t {
		x := F16ToF32(uint16(i))
		inner := float32(sqrt2OverPi*x) * (1 + float32(float32(coefA*x)*x))
		th := float32(math.Tanh(float64(inner)))
		t[i] = F32ToF16(float32(0.5*x) * (1 + th))
	}
	return &t
})

// Softcap sets x[i] = c·tanh(x[i]/c) (Gemma 2's logit soft-capping).
func Softcap(x []float32, c float32) {
	for i, v := range x {
		x[i] = c * float32(math.Tanh(float64(v/c)))
	}
}

// Scale multiplies x by s.
func Scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// LogSumExp is log Σ exp(z), computed in float64 after shifting by z's
// maximum (so large logits do not overflow).
func LogSumExp(z []float32) float64 {
	mx := z[0]
	for _, x := range z {
		mx = max(mx, x)
	}
	var sum float64
	for _, x := range z {
		sum += math.Exp(float64(x - mx))
	}
	return float64(mx) + math.Log(sum)
}
