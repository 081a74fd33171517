package tensor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHuge asks Linux to back the whole 2 MiB pages inside b (not yet
// touched) with transparent huge pages where the system allows it on
// request (transparent_hugepage=madvise, a common default). Repacking a
// model writes every byte of a buffer as large as the model once; in
// 4 KiB pages each first touch is a fault, and on virtual machines faults
// are slow (1.1B Q8_0: about 2 s of the 2.9 s a load took).
func adviseHuge(b []byte) {
	const huge = 2 << 20
	if len(b) < 2*huge {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := int((huge - start%huge) % huge)
	hi := lo + (len(b)-lo)/huge*huge
	if hi > lo {
		unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE)
	}
}

// populate faults in b's pages in one call (MADV_POPULATE_READ, or
// _WRITE for memory about to be written), instead of one trap per page as
// a loop first touches them: repacking reads a model's weights from the
// file mapping and writes as many bytes, and on a virtual machine each
// trap is slow (1.1B Q5_K: about 84,000 minor faults, most of a 3-4 s
// load). Kernels before Linux 5.14 refuse the advice; the pages are then
// faulted in as before.
func populate(b []byte, write bool) {
	if len(b) == 0 {
		return
	}
	const page = 4096
	p := unsafe.SliceData(b)
	back := int(uintptr(unsafe.Pointer(p)) % page) // from the page holding b[0]
	advice := unix.MADV_POPULATE_READ
	if write {
		advice = unix.MADV_POPULATE_WRITE
	}
	unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(p), -back)), len(b)+back), advice)
}
