//go:build !amd64

package tensor

func expShiftFast(dst, src []float32, sub float32) int { return 0 }
