//go:build !amd64

package tensor

func (m *Mat) mulFloatRows(y, x []float32, n, lo, hi int) bool { return false }

func dotRowsTiled(out, q []float32, nq, d int, k []float32, stride, n int) int { return 0 }

func accumRows16Fast(rows []float32, d int, p, v []float32, stride, n, a0 int) bool { return false }

func scaleRoundF16Fast(x []float32, s float32) int { return 0 }

func swiGLUFast(g, e, up []float32) int { return 0 }

func reduceRows16Fast(dst, rows []float32, d int) bool { return false }
