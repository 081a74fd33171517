package tensor

import (
	"encoding/binary"
	"testing"
)

// TestStreamReadSums: the bandwidth probe reads every byte it is given (its
// result is the wrapping sum of the buffer's 64-bit words).
func TestStreamReadSums(t *testing.T) {
	if !streamAvailable() {
		t.Skip("no AVX2 here")
	}
	b := make([]byte, 128*37)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	var want uint64
	for i := 0; i < len(b); i += 8 {
		want += binary.LittleEndian.Uint64(b[i:])
	}
	if got := streamReadAVX2(&b[0], len(b)); got != want {
		t.Fatalf("sum %#x, want %#x", got, want)
	}
}
