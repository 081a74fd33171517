package tensor

import (
	"slices"
	"testing"
)

// TestWarm: Warm reads slices of any length (whole 128-byte blocks, the
// rest left alone) without going past them or changing them.
func TestWarm(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 1000, 4096} {
		u := make([]uint16, n+64)
		f := make([]float32, n+32)
		for i := range u {
			u[i] = uint16(i)
		}
		for i := range f {
			f[i] = float32(i)
		}
		u0, f0 := slices.Clone(u), slices.Clone(f)
		Warm(u[:n])
		Warm(f[:n])
		if !slices.Equal(u, u0) || !slices.Equal(f, f0) {
			t.Fatalf("n=%d: Warm changed its input", n)
		}
	}
}
