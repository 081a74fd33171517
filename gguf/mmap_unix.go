//go:build unix

package gguf

import (
	"os"
	"syscall"
)

// mapFile maps the file read-only. Model weights are then paged in on demand
// and shared with the page cache: resident memory stays near what is used.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return nil, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, syscall.EFBIG
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems cannot map; fall back to reading.
		return readWhole(f, size)
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
