//go:build unix

package tensor

import (
	"testing"
	"unsafe"
)

// TestHugeArena: pieces come one after another from a chunk, on pages of
// their own, zeroed and writable; a piece that does not fit starts a new
// chunk, large pieces get none; a chunk is unmapped with its last piece,
// the current one too.
func TestHugeArena(t *testing.T) {
	const mb = 1 << 20
	a := &hugeArena{chunk: 8 * mb}
	if b, c := a.alloc(3 * mb); b != nil || c != nil {
		t.Fatal("a piece over a quarter of a chunk came from the arena")
	}
	var bs [][]byte
	var cs []*arenaChunk
	for _, n := range []int{mb, 1, 2 * mb, 5000, 2 * mb, 2 * mb, 2 * mb} {
		b, c := a.alloc(n)
		if c == nil || len(b) != n {
			t.Fatalf("alloc(%d): %d bytes, chunk %v", n, len(b), c)
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("alloc(%d): byte %d not zero", n, i)
			}
			b[i] = byte(len(bs) + 1)
		}
		bs, cs = append(bs, b), append(cs, c)
	}
	// Written pieces do not overlap, and each starts a page.
	for k, b := range bs {
		for i := range b {
			if b[i] != byte(k+1) {
				t.Fatalf("piece %d overwritten at %d", k, i)
			}
		}
		if addr := uintptr(unsafe.Pointer(&b[0])); addr%4096 != 0 {
			t.Errorf("piece %d at %#x, not on a page", k, addr)
		}
	}
	// 1 MB, 4 KB, 2 MB, 8 KB, 2 MB, 2 MB fill 7+ MB of the first chunk; the
	// last 2 MB do not fit and start the second.
	for k := 1; k < 6; k++ {
		if cs[k] != cs[0] {
			t.Fatalf("piece %d from another chunk than piece 0", k)
		}
	}
	if cs[6] == cs[0] || a.cur != cs[6] {
		t.Fatal("the piece that did not fit did not start a new current chunk")
	}
	for k := 0; k < 6; k++ {
		if a.unmapped.Load() != 0 {
			t.Fatalf("a chunk unmapped with %d of its pieces still out", 6-k)
		}
		a.release(cs[k])
	}
	if a.unmapped.Load() != 1 {
		t.Fatalf("%d chunks unmapped after the first chunk's pieces came back, want 1", a.unmapped.Load())
	}
	a.release(cs[6])
	if a.unmapped.Load() != 2 || a.cur != nil {
		t.Fatalf("the current chunk's last piece back: %d unmapped, current %v", a.unmapped.Load(), a.cur)
	}
}
