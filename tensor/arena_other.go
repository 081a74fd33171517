//go:build !unix

package tensor

// WeightBytes is OffHeap for a matrix's weights: on the Go heap here.
func WeightBytes[T any](owner *T, n int) []byte { return OffHeap(owner, n) }
