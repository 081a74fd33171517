package tensor

import (
	"math"
	"math/rand"
	"testing"
)

// TestRMSNorm: the vector sum of squares and scaling give the portable
// loops' result bit for bit, for widths with and without a tail past the
// last 16, and the result is x/rms(x)·w to float32 rounding.
func TestRMSNorm(t *testing.T) { eachKernel(t, testRMSNorm) }

func testRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, n := range []int{7, 16, 48, 100, 2048, 2051} {
		x := make([]float32, n)
		w := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 4)
			w[i] = float32(1 + rng.NormFloat64()*0.1)
		}
		const eps = 1e-5
		got := make([]float32, n)
		RMSNorm(got, x, w, eps)

		// The portable form, written out.
		m := n / 16 * 16
		ss := sumSquaresGo(x[:m])
		for _, v := range x[m:] {
			ss += float64(v * v)
		}
		scale := 1 / float32(math.Sqrt(float64(float32(ss/float64(n))+eps)))
		var exact float64
		for _, v := range x {
			exact += float64(v) * float64(v)
		}
		rms := math.Sqrt(exact/float64(n) + eps)
		for i := range got {
			want := x[i] * scale * w[i]
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: dst[%d] = %v, portable %v", n, i, got[i], want)
			}
			if e := float64(x[i]) / rms * float64(w[i]); math.Abs(float64(got[i])-e) > 1e-6*(1+math.Abs(e)) {
				t.Fatalf("n=%d: dst[%d] = %v, exact %v", n, i, got[i], e)
			}
		}
	}
}

// BenchmarkRMSNorm normalises one 2048-wide token (a 1.1B model's width).
func BenchmarkRMSNorm(b *testing.B) {
	x := make([]float32, 2048)
	w := make([]float32, 2048)
	for i := range x {
		x[i], w[i] = float32(i%23-11)*0.3, 1
	}
	dst := make([]float32, 2048)
	b.SetBytes(4 * 2048)
	for i := 0; i < b.N; i++ {
		RMSNorm(dst, x, w, 1e-5)
	}
}
