package tensor

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"s4c/gguf"
)

// TestOffHeapGivenBack: a matrix's repacked rows and copied data live
// outside the Go heap and are unmapped once the matrix is unreachable
// (loading models one after another must not pile up their weights).
func TestOffHeapGivenBack(t *testing.T) {
	before := offHeapFreed.Load()
	func() {
		m, _ := repeatedMat(t, gguf.Q4_K, 256, 1024)
		if m.Prepare() {
			_ = m.pk.data[len(m.pk.data)-1]
		}
		f, _ := repeatedMat(t, gguf.F16, 64, 1024)
		orig := append([]byte(nil), f.Data...)
		f.OwnData()
		if !bytes.Equal(f.Data, orig) {
			t.Fatal("OwnData's copy differs from the data")
		}
	}()
	want := int64(2)
	if !intKernels() {
		want = 1 // no repacked rows on this machine
	}
	deadline := time.Now().Add(5 * time.Second)
	for offHeapFreed.Load()-before < want && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := offHeapFreed.Load() - before; got < want {
		t.Fatalf("%d of %d off-heap buffers given back after their matrices became unreachable", got, want)
	}
}
