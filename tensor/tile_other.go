//go:build !amd64

package tensor

import "math"

func (m *Mat) mulFloatRows(y, x []float32, n, lo, hi int) bool { return false }

func dotRowsTiled(out []float32, ostride int, q []float32, nq, d int, k []float32, stride, n int, tmp []float32) int {
	return 0
}

func scaleMaxFast(x []float32, s float32) (float32, int) { return float32(math.Inf(-1)), 0 }

func sumBlocks16Fast(x []float32) (float64, int) { return 0, 0 }

func accumRows16Fast(rows []float32, d int, p, v []float32, stride, n, a0 int) bool { return false }

func scaleRoundF16Fast(x []float32, s float32) int { return 0 }

func reduceRows16Fast(dst, rows []float32, d int) bool { return false }

func (r *Rope) ropeFast(x, cs []float32) int { return 0 }

func sumSquares16(x []float32) (float64, int) {
	n := len(x) / 16 * 16
	return sumSquaresGo(x[:n]), n
}

func scaleMul16(dst, x, w []float32, s float32) int { return 0 }

func accumHeads4Fast(rows []float32, d int, p []float32, pstride int, v []float32, stride, n, a0 int) bool {
	return false
}

func f32ToF16Fast(dst []uint16, src []float32) int { return 0 }

func f16ToF32RowsFast(dst []float32, src []uint16, stride, d, n int) bool { return false }

func dotRowsF16Tiled(out []float32, ostride int, q []float32, nq, d int, k []uint16, stride, n int) int {
	return 0
}

func accumRows16F16Fast(rows []float32, d int, p []float32, v []uint16, stride, n, a0 int) bool {
	return false
}

func accumHeads4F16Fast(rows []float32, d int, p []float32, pstride int, v []uint16, stride, n, a0 int) bool {
	return false
}
