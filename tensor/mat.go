package tensor

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"s4c/gguf"
)

// Mat is a weight matrix of Rows × Cols stored row by row in a ggml type:
// the layout of a 2-D GGUF tensor with Dims = [Cols, Rows].
type Mat struct {
	Type       gguf.TensorType
	Rows, Cols int
	Data       []byte
	rowBytes   int

	packOnce sync.Once
	pk       *packed // rows repacked for the integer kernels (packed.go)
}

// NewMat wraps encoded data as a matrix, checking type and size.
func NewMat(t gguf.TensorType, rows, cols int, data []byte) (*Mat, error) {
	if !Supported(t) {
		return nil, ErrUnsupported{t}
	}
	if cols%t.BlockSize() != 0 {
		return nil, fmt.Errorf("matrix row length %d is not a multiple of the %s block size %d", cols, t, t.BlockSize())
	}
	rb := t.RowBytes(cols)
	if len(data) != rb*rows {
		return nil, fmt.Errorf("matrix %dx%d %s needs %d bytes, have %d", rows, cols, t, rb*rows, len(data))
	}
	return &Mat{Type: t, Rows: rows, Cols: cols, Data: data, rowBytes: rb}, nil
}

// Row returns the encoded bytes of row r.
func (m *Mat) Row(r int) []byte { return m.Data[r*m.rowBytes : (r+1)*m.rowBytes] }

// RowF32 decodes row r into dst (len Cols).
func (m *Mat) RowF32(r int, dst []float32) { Dequantize(m.Type, m.Row(r), dst) }

func u16ptr(b []byte) *uint16  { return (*uint16)(unsafe.Pointer(&b[0])) }
func f32ptr(b []byte) *float32 { return (*float32)(unsafe.Pointer(&b[0])) }

// F32Data views a whole F32 matrix (Rows × Cols, row-major) without
// copying.
func (m *Mat) F32Data() []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(&m.Data[0])), m.Rows*m.Cols)
}

// F32Row views row r of an F32 matrix without copying.
func (m *Mat) F32Row(r int) []float32 { return m.f32Row(r) }

// f32Row views row r of an F32 matrix without copying (GGUF data is
// little-endian and at least 32-byte aligned).
func (m *Mat) f32Row(r int) []float32 {
	b := m.Row(r)
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), m.Cols)
}

// Mul computes y = x·Wᵀ for a batch of n input vectors: x is n×Cols, y is
// n×Rows, both row-major. Each output element is computed by the same
// sequence of operations whatever n is, so results are bitwise independent
// of the batch size (batch invariance). Q8_0, Q4_0, Q4_K and Q6_K weights
// use integer kernels on int8-quantized activations (see packed.go); other
// types are decoded to float32 and multiplied with the 16-lane dot product.
func (m *Mat) Mul(y, x []float32, n int, p *Pool) {
	if len(x) < n*m.Cols || len(y) < n*m.Rows {
		panic(fmt.Sprintf("tensor.Mat.Mul: x has %d, y has %d elements; want %d and %d", len(x), len(y), n*m.Cols, n*m.Rows))
	}
	mulRows(x, n, p, []*Mat{m}, [][]float32{y}, m.Prepare())
}

// mulDequantRows computes rows [lo, hi) of y = x·Wᵀ by decoding each row to
// float32 and taking Dot with every token: the portable path.
func (m *Mat) mulDequantRows(y, x []float32, n, lo, hi int, scratch *Scratch) {
	var row []float32
	if m.Type != gguf.F32 {
		row = scratch.Floats(m.Cols)
	}
	for r := lo; r < hi; r++ {
		if m.Type == gguf.F32 {
			row = m.f32Row(r)
		} else {
			Dequantize(m.Type, m.Row(r), row)
		}
		for i := 0; i < n; i++ {
			y[i*m.Rows+r] = Dot(row, x[i*m.Cols:(i+1)*m.Cols])
		}
	}
}

// MulMany computes ys[i] = x·ms[i]ᵀ for matrices that share their input
// (the query, key and value projections; the gate and up projections):
// each result is bitwise that of ms[i].Mul, but the activations are
// quantized once for all integer matrices and all rows are split among the
// threads in one go, so small matrices (grouped-query K and V) do not each
// pay a fork and join.
func MulMany(x []float32, n int, p *Pool, ms []*Mat, ys [][]float32) {
	cols := ms[0].Cols
	intPath := ms[0].Prepare()
	for i, m := range ms {
		if m.Cols != cols || m.Prepare() != intPath {
			for j := range ms {
				ms[j].Mul(ys[j], x, n, p)
			}
			return
		}
		if len(x) < n*m.Cols || len(ys[i]) < n*m.Rows {
			panic(fmt.Sprintf("tensor.MulMany: x has %d, y has %d elements; want %d and %d", len(x), len(ys[i]), n*m.Cols, n*m.Rows))
		}
	}
	mulRows(x, n, p, ms, ys, intPath)
}

// mulRows multiplies the matrices ms (same Cols, all on the integer path
// or all not) by x, the rows of all of them split among the threads in one
// go.
func mulRows(x []float32, n int, p *Pool, ms []*Mat, ys [][]float32, intPath bool) {
	total := 0
	for _, m := range ms {
		total += m.Rows
	}
	var a *pkActs
	if intPath {
		if p != nil {
			a = &p.acts
		} else {
			a = &pkActs{}
		}
		quantizeActs(a, x, n, ms[0].Cols, p)
	}
	p.Run(total, 16, func(lo, hi int, scratch *Scratch) {
		base := 0
		for i, m := range ms {
			// The part of [lo, hi) that falls in this matrix, in its rows.
			l, h := max(lo-base, 0), min(hi-base, m.Rows)
			base += m.Rows
			if l >= h {
				continue
			}
			if intPath {
				m.mulIntRows(ys[i], a, n, l, h, scratch)
			} else if !m.mulFloatRows(ys[i], x, n, l, h) {
				m.mulDequantRows(ys[i], x, n, l, h, scratch)
			}
		}
	})
}

// Dot is the float32 dot product of a and b (len(b) >= len(a)) in a fixed
// order, the one ggml's CPU kernels use on AVX-512 so that F32 models give
// llama.cpp's logits to about 1e-6: for a length that is a multiple of 16,
// one 16-lane accumulator of fused multiply-adds; otherwise four such
// accumulators over groups of 64, then a float64 tail. Lanes are reduced as a
// tree (Reduce16). Batch invariance follows from the order being fixed.
func Dot(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	if n%16 == 0 && n > 0 {
		return dot16(a, b)
	}
	i := n / 64 * 64
	sum := 0.0
	if i > 0 {
		sum = float64(dot64(a[:i], b[:i]))
	}
	for ; i < n; i++ {
		sum += float64(a[i] * b[i])
	}
	return float32(sum)
}

// dot64Go is the portable form of the four-accumulator kernel (len a
// multiple of 64).
func dot64Go(a, b []float32) float32 {
	var s [4][16]float32
	for i := 0; i < len(a); i += 64 {
		for j := 0; j < 4; j++ {
			for l := 0; l < 16; l++ {
				s[j][l] = FMA32(a[i+16*j+l], b[i+16*j+l], s[j][l])
			}
		}
	}
	for l := 0; l < 16; l++ {
		s[0][l] += s[2][l]
		s[1][l] += s[3][l]
	}
	for l := 0; l < 16; l++ {
		s[0][l] += s[1][l]
	}
	return Reduce16(&s[0])
}

func fmaRowGo(acc []float32, p float32, v []float32) {
	v = v[:len(acc)]
	for i := range acc {
		acc[i] = FMA32(p, v[i], acc[i])
	}
}

// fmaRowsGo is the portable form of FMARows.
func fmaRowsGo(acc, p, v []float32, stride int) {
	for k, x := range p {
		fmaRowGo(acc, x, v[k*stride:k*stride+len(acc)])
	}
}

// dot16Go is the portable form of the 16-lane kernel (len a multiple of 16).
func dot16Go(a, b []float32) float32 {
	var s [16]float32
	for i := 0; i < len(a); i += 16 {
		x, y := a[i:i+16], b[i:i+16]
		for l := range s {
			s[l] = FMA32(x[l], y[l], s[l])
		}
	}
	return Reduce16(&s)
}

// FMA32 is the fused multiply-add a*b+c rounded once to float32, exactly as
// the vfmadd instructions compute it. a*b is exact in float64; the sum is
// rounded to float64 "to odd" (sticky last bit), which makes the final
// rounding to float32 correct.
func FMA32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cc := float64(c)
	s := p + cc
	// TwoSum: s + e == p + c exactly.
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e != 0 && math.Float64bits(s)&1 == 0 && !math.IsInf(s, 0) {
		if (e > 0) == (s > 0) {
			s = math.Float64frombits(math.Float64bits(s) + 1)
		} else {
			s = math.Float64frombits(math.Float64bits(s) - 1)
		}
	}
	return float32(s)
}

// Reduce16 sums sixteen lanes as a tree, the way a 512-bit register is reduced.
func Reduce16(s *[16]float32) float32 {
	for l := 0; l < 8; l++ {
		s[l] += s[l+8]
	}
	for l := 0; l < 4; l++ {
		s[l] += s[l+4]
	}
	return (s[0] + s[2]) + (s[1] + s[3])
}

// evenTiles appends to buf the sizes of the fewest token tiles of at most
// maxT that cover n tokens, as even as possible (7 by 6 = 4+3, not 6+1):
// each tile streams the weight rows once, and uneven tiles waste the
// wide kernel on a narrow remainder.
func evenTiles(n, maxT int, buf []int) []int {
	tiles := (n + maxT - 1) / maxT
	for k := 0; k < tiles; k++ {
		T := n / tiles
		if k < n%tiles {
			T++
		}
		buf = append(buf, T)
	}
	return buf
}
