package tensor

import (
	"math"
	"math/rand"
	"testing"
)

// TestRopeApply: the vector kernels rotate every head exactly as the
// portable loop does, for both pair layouts and for rotated widths that
// are and are not multiples of the vector; and a rotation is a rotation
// (position 0 changes nothing, lengths are kept, a known angle lands
// where trigonometry says).
func TestRopeApply(t *testing.T) { eachKernel(t, testRopeApply) }

func testRopeApply(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	cases := []struct {
		dims, hd int
		neox     bool
	}{
		{64, 64, false}, {64, 64, true}, {128, 128, false}, {128, 128, true},
		{32, 64, false}, {32, 64, true}, // partial rotary (rope.dimension_count < head size)
		{48, 48, false}, {48, 48, true}, // 24 pairs: a vector and a tail
		{6, 8, false}, {6, 8, true}, // tail only
	}
	for _, c := range cases {
		r := Rope{Dims: c.dims, Base: 10000, FreqScale: 1, Neox: c.neox}
		const heads = 3
		cs := make([]float32, c.dims)
		r.Angles(37, cs)
		x := make([]float32, heads*c.hd)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		want := append([]float32(nil), x...)
		for h := 0; h < heads; h++ {
			r.applyFrom(want[h*c.hd:(h+1)*c.hd], cs, 0)
		}
		got := append([]float32(nil), x...)
		r.ApplyHeads(got, heads, c.hd, cs)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("dims %d hd %d neox %v: x[%d] = %g, portable %g", c.dims, c.hd, c.neox, i, got[i], want[i])
			}
		}
		// Lengths of the rotated pairs are kept; the unrotated tail is untouched.
		half := c.dims / 2
		for h := 0; h < heads; h++ {
			o := h * c.hd
			for i := 0; i < half; i++ {
				a, b := o+2*i, o+2*i+1
				if c.neox {
					a, b = o+i, o+i+half
				}
				n0 := math.Hypot(float64(x[a]), float64(x[b]))
				n1 := math.Hypot(float64(got[a]), float64(got[b]))
				if math.Abs(n0-n1) > 1e-5*(1+n0) {
					t.Fatalf("dims %d neox %v: pair %d length %g -> %g", c.dims, c.neox, i, n0, n1)
				}
			}
			for i := c.dims; i < c.hd; i++ {
				if got[o+i] != x[o+i] {
					t.Fatalf("dims %d hd %d: unrotated x[%d] changed", c.dims, c.hd, o+i)
				}
			}
		}
		// Position 0: the identity.
		r.Angles(0, cs)
		id := append([]float32(nil), x...)
		r.ApplyHeads(id, heads, c.hd, cs)
		for i := range id {
			if id[i] != x[i] {
				t.Fatalf("dims %d neox %v: position 0 moved x[%d] %g -> %g", c.dims, c.neox, i, x[i], id[i])
			}
		}
	}
	// Pair 0 turns by pos radians: (1, 0) at position 1 is (cos 1, sin 1).
	r := Rope{Dims: 16, Base: 10000, FreqScale: 1}
	cs := make([]float32, 16)
	r.Angles(1, cs)
	x := make([]float32, 16)
	x[0] = 1
	r.Apply(x, cs)
	if math.Abs(float64(x[0])-math.Cos(1)) > 1e-7 || math.Abs(float64(x[1])-math.Sin(1)) > 1e-7 {
		t.Fatalf("(1,0) at position 1 -> (%g, %g), want (cos 1, sin 1)", x[0], x[1])
	}
}

// BenchmarkRopeHeads rotates the 32 query heads of a 1.1B model's token.
func BenchmarkRopeHeads(b *testing.B) {
	for _, neox := range []bool{false, true} {
		name := "pairs"
		if neox {
			name = "neox"
		}
		b.Run(name, func(b *testing.B) {
			r := Rope{Dims: 64, Base: 10000, FreqScale: 1, Neox: neox}
			cs := make([]float32, 64)
			r.Angles(100, cs)
			x := make([]float32, 32*64)
			for i := range x {
				x[i] = float32(i%17) * 0.1
			}
			b.SetBytes(int64(4 * len(x)))
			for i := 0; i < b.N; i++ {
				r.ApplyHeads(x, 32, 64, cs)
			}
		})
	}
}
