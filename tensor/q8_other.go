//go:build !amd64

package tensor

func (m *Mat) intDot1(row, rec []byte, nchunks int) float32 { return m.intDot(row, rec, nchunks) }

func (m *Mat) q8Rows4(y []float32, a *q8Acts, n, lo, hi int) int { return lo }

func intKernels() bool { return false }
