//go:build unix

package gguf

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps the file read-only. Model weights are then paged in on demand
// and shared with the page cache: resident memory stays near what is used.
func mapFile(f *os.File, size int64) ([]byte, func() error, bool, error) {
	if size == 0 {
		return nil, func() error { return nil }, false, nil
	}
	if int64(int(size)) != size {
		return nil, nil, false, syscall.EFBIG
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems cannot map; fall back to reading.
		b, release, err := readWhole(f, size)
		return b, release, false, err
	}
	return b, func() error { return syscall.Munmap(b) }, true, nil
}

// dropPages tells the kernel that the whole pages inside b (a part of the
// read-only file mapping) are not needed now: they leave the process's
// resident set and are read from the file again if touched.
func dropPages(b []byte) {
	const page = 4096
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := int((page - start%page) % page)
	hi := lo + (len(b)-lo)/page*page
	if hi-lo <= 0 {
		return
	}
	unix.Madvise(b[lo:hi], unix.MADV_DONTNEED)
}
