//go:build unix

package tensor

import (
	"runtime"
	"syscall"
	"unsafe"
)

// OffHeap returns n zeroed bytes of anonymous memory mapped outside the Go
// heap (starting on a huge-page boundary, advised into huge pages),
// unmapped once owner is unreachable. Only owner may hand the bytes out,
// and nothing may keep them past owner.
//
// A model's weights on the Go heap set the collector's pace: with the
// default GOGC it let garbage grow to the weights' size before collecting,
// so a long run could hold twice the model in memory, and every
// allocation between two collections (hundreds of megabytes apart) landed
// in pages never touched before, a page fault per 4 KiB (on these virtual
// machines about 7 µs each; 1.1B Q4_K decoding, 8 faults a step from its
// allocations). Off the heap, collections come every few megabytes of
// garbage and reuse its pages.
func OffHeap[T any](owner *T, n int) []byte {
	if n == 0 {
		return nil
	}
	b, c, err := mapHuge(n)
	if err != nil {
		return alignedBytes(n) // on the heap, as before
	}
	runtime.AddCleanup(owner, func(b []byte) {
		syscall.Munmap(b)
		offHeapFreed.Add(1)
	}, b)
	return c
}

// mapHuge maps n zeroed bytes of anonymous memory starting on a huge-page
// boundary and advises them into huge pages: c, within the whole mapping
// m (to unmap). A huge page more than asked for is mapped to find the
// boundary; the pages left out are never touched.
func mapHuge(n int) (m, c []byte, err error) {
	const huge = 2 << 20
	m, err = syscall.Mmap(-1, 0, n+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	off := int(-uintptr(unsafe.Pointer(&m[0])) & (huge - 1))
	c = m[off : off+n : off+n]
	adviseHuge(c)
	return m, c, nil
}
