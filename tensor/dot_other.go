//go:build !amd64

package tensor

// Kernel names the SIMD level in use.
var Kernel = "generic"

func dot16(a, b []float32) float32 { return dot16Go(a, b) }

func dot64(a, b []float32) float32 { return dot64Go(a, b) }

// FMARow sets acc[i] = fma(p, v[i], acc[i]).
func FMARow(acc []float32, p float32, v []float32) { fmaRowGo(acc, p, v) }

// FMARows sets acc[i] = fma(p[k], v[k·stride+i], acc[i]) for k = 0, 1, …,
// len(p)-1 in turn.
func FMARows(acc, p, v []float32, stride int) {
	if len(p) > 0 && len(acc) > 0 {
		fmaRowsGo(acc, p, v, stride)
	}
}
