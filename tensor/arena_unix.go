//go:build unix

package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// weightArena holds the repacked rows and copied data of every model's
// matrices (WeightBytes).
var weightArena = hugeArena{chunk: 64 << 20}

// WeightBytes is OffHeap for a matrix's weights: n zeroed bytes for owner,
// outside the Go heap, given back once owner is unreachable; but a matrix
// of up to a quarter of hugeArena's chunk is carved from a large mapping
// shared with the matrices made before and after it, so that it lies in
// huge pages whole.
//
// On its own mapping a matrix got huge pages only for the whole 2 MiB
// pages inside it, and only from 4 MiB on (adviseHuge): none for a 1.1B
// model's Q, K, V and O (0.3-2.4 MB each), nor the last part of every
// other, where a huge page would have held a few hundred kilobytes. In
// 4 KiB pages those streamed at about 0.6 of the machine's read bandwidth
// against 0.9 for the FFN matrices. The same 1.1B Q4_K model loaded twice
// in one process, once each way, decoding steps alternated four at a
// time beside a read probe (80 GB/s): Q, K and V 1.03-1.04 ms a step
// against 1.46-1.63, O 0.83-0.84 against 1.14-1.29, whole steps 5-7 %
// shorter (9.32 / 9.40 ms against 10.07 / 9.89).
func WeightBytes[T any](owner *T, n int) []byte {
	b, c := weightArena.alloc(n)
	if c == nil {
		return OffHeap(owner, n)
	}
	runtime.AddCleanup(owner, weightArena.release, c)
	return b
}

// hugeArena hands out pieces of large anonymous mappings advised into huge
// pages, one after another; a mapping is unmapped once every piece of it
// has been given back (and no more can come from it). Until then the pages
// of pieces given back stay resident: a model dropped while the next one
// loads keeps at most the one chunk they share (models are loaded for the
// life of a process here, and tests drop theirs whole).
type hugeArena struct {
	mu       sync.Mutex
	chunk    int         // bytes mapped at a time
	cur      *arenaChunk // the mapping pieces come from now
	unmapped atomic.Int64
}

type arenaChunk struct {
	mapping []byte // as mapped, to unmap
	free    []byte // the huge-page-aligned rest not handed out yet
	live    int    // pieces handed out and not given back
}

// alloc returns n bytes and the chunk they are from, which release must
// be given once they are no longer used; no chunk for pieces over a
// quarter of one, or where mapping fails.
func (a *hugeArena) alloc(n int) ([]byte, *arenaChunk) {
	if n == 0 || n > a.chunk/4 {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cur
	if c == nil || len(c.free) < n {
		if c = a.newChunk(); c == nil {
			return nil, nil
		}
		a.cur = c
	}
	b := c.free[:n:n]
	// The next piece starts on a new 4 KiB page.
	c.free = c.free[min(len(c.free), (n+4095)&^4095):]
	c.live++
	return b, c
}

// newChunk maps a chunk on a huge-page boundary (nil if it cannot).
func (a *hugeArena) newChunk() *arenaChunk {
	m, free, err := mapHuge(a.chunk)
	if err != nil {
		return nil
	}
	return &arenaChunk{mapping: m, free: free}
}

// release gives a piece of c back, unmapping c with its last one.
func (a *hugeArena) release(c *arenaChunk) {
	offHeapFreed.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	c.live--
	if c.live > 0 {
		return
	}
	if a.cur == c {
		a.cur = nil // what is left of it goes with it
	}
	syscall.Munmap(c.mapping)
	a.unmapped.Add(1)
}
