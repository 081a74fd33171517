package tensor

import "golang.org/x/sys/cpu"

//go:noescape
func q8Tile8AVX512(w *byte, x *byte, nchunks, stride int, out *float32)

//go:noescape
func q8Tile1AVX512(w *byte, x *byte, nchunks int) float32

var hasVNNI = cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW

// q8Tiles runs eight tokens at a time through the VNNI kernel and returns
// how many tokens it did.
func q8Tiles(row []byte, a *q8Acts, n int, y []float32, rows, r int) int {
	if Kernel != "avx512" || !hasVNNI {
		return 0
	}
	tok := a.nchunks * q8RecBytes
	var out [8]float32
	t := 0
	for ; t+8 <= n; t += 8 {
		q8Tile8AVX512(&row[0], &a.buf[t*tok], a.nchunks, tok, &out[0])
		for k := 0; k < 8; k++ {
			y[(t+k)*rows+r] = out[k]
		}
	}
	return t
}

func q8Dot1(row, rec []byte, nchunks int) float32 {
	if Kernel == "avx512" && hasVNNI {
		return q8Tile1AVX512(&row[0], &rec[0], nchunks)
	}
	return q8Dot(row, rec, nchunks)
}
