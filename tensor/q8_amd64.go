package tensor

import (
	"golang.org/x/sys/cpu"

	"s4c/gguf"
)

//go:noescape
func q8r4t1AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q8r4t2AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q8r4t3AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q8r4t4AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

var hasVNNI = cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW

//go:noescape
func q4r1t1AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q4r1t2AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q4r1t3AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q4r1t4AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

var kernelsQ4r1 = [4]func(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32){
	q4r1t1AVX512, q4r1t2AVX512, q4r1t3AVX512, q4r1t4AVX512,
}

//go:noescape
func q4r4t1AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q4r4t2AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q4r4t3AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q4r4t4AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

var kernelsQ4 = [4]func(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32){
	q4r4t1AVX512, q4r4t2AVX512, q4r4t3AVX512, q4r4t4AVX512,
}

// intDot1 is one row times one token with the best kernel for m's type.
func (m *Mat) intDot1(row, rec []byte, nchunks int) float32 {
	if !intKernels() {
		return m.intDot(row, rec, nchunks)
	}
	one := kernelsQ8r1[0]
	if m.Type == gguf.Q4_0 {
		one = kernelsQ4r1[0]
	}
	var out [1]float32
	one(&row[0], 0, &rec[0], 0, nchunks, &out[0])
	return out[0]
}

//go:noescape
func q8r1t1AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q8r1t2AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q8r1t3AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

//go:noescape
func q8r1t4AVX512(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32)

var kernelsQ8r1 = [4]func(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32){
	q8r1t1AVX512, q8r1t2AVX512, q8r1t3AVX512, q8r1t4AVX512,
}

var kernelsQ8 = [4]func(w *byte, wstride int, x *byte, xstride int, nchunks int, out *float32){
	q8r4t1AVX512, q8r4t2AVX512, q8r4t3AVX512, q8r4t4AVX512,
}

// q8Rows4 multiplies rows [lo, lo+4k) four at a time by every token and
// returns the first row it did not do.
func (m *Mat) q8Rows4(y []float32, a *q8Acts, n, lo, hi int) int {
	// One token streams rows one by one (one sequential stream per thread
	// reads memory fastest); batches share each activation load by 4 rows.
	if Kernel != "avx512" || !hasVNNI || n < 2 {
		return lo
	}
	tok := a.nchunks * q8RecBytes
	kernels, few := kernelsQ8, kernelsQ8r1
	if m.Type == gguf.Q4_0 {
		kernels, few = kernelsQ4, kernelsQ4r1
	}
	if n <= fewTokens {
		// Few tokens: one row at a time streams the weights fastest.
		var out [4]float32
		for r := lo; r < hi; r++ {
			few[n-1](&m.Row(r)[0], 0, &a.buf[0], tok, a.nchunks, &out[0])
			for k := 0; k < n; k++ {
				y[k*m.Rows+r] = out[k]
			}
		}
		return hi
	}
	var out [16]float32
	r4 := lo + (hi-lo)/4*4
	for r := lo; r < r4; r += 4 {
		for t := 0; t < n; t += 4 {
			T := min(4, n-t)
			kernels[T-1](&m.Row(r)[0], m.rowBytes, &a.buf[t*tok], tok, a.nchunks, &out[0])
			for i := 0; i < 4; i++ {
				for k := 0; k < T; k++ {
					y[(t+k)*m.Rows+r+i] = out[T*i+k]
				}
			}
		}
	}
	return r4
}

func intKernels() bool { return Kernel == "avx512" && hasVNNI }

// fewTokens is the largest batch multiplied one row at a time (measured:
// better for 2-3 tokens, worse from 4 on).
const fewTokens = 3
