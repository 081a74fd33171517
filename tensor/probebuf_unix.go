//go:build unix

package tensor

import "syscall"

// probeBuffer maps size bytes of anonymous memory, unmapped by free.
func probeBuffer(size int) (buf []byte, free func()) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return alignedBytes(size), func() {}
	}
	if probeHuge {
		adviseHuge(b) // as the weights are (OffHeap)
	}
	return b, func() { syscall.Munmap(b) }
}

var probeHuge = true
