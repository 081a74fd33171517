//go:build !unix

package tensor

// OffHeap returns n zeroed bytes for owner: on the Go heap here.
func OffHeap[T any](owner *T, n int) []byte { return alignedBytes(n) }
