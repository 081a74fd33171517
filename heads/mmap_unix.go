//go:build unix

package heads

import (
	"os"
	"syscall"
)

// mapData maps a data file read-only: data sets are larger than memory
// should hold, and training reads them in random order.
func mapData(f *os.File, size int64) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapData(b []byte) error { return syscall.Munmap(b) }
