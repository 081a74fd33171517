package tensor

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"s4c/gguf"
	"s4c/internal/shared"
)

// TestDequantizeMatchesLlamaCpp: every tensor of ../shared/conformance/quants
// (nine types, quantized by llama.cpp's llama-quantize) dequantizes to the
// very float32 bits llama.cpp's own dequantization gives.
func TestDequantizeMatchesLlamaCpp(t *testing.T) {
	dir := filepath.Dir(shared.Path(t, "conformance/quants/index.json"))
	for _, typ := range []string{"Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS", "Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q4_0"} {
		t.Run(typ, func(t *testing.T) {
			f, err := gguf.Open(filepath.Join(dir, typ+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, name := range []string{"gauss.weight", "llmlike.weight", "edge.weight"} {
				ti, ok := f.Tensor(name)
				if !ok {
					t.Fatalf("%s: no tensor %s", typ, name)
				}
				if ti.Type.String() != typ {
					t.Fatalf("%s: tensor %s has type %s", typ, name, ti.Type)
				}
				if !Supported(ti.Type) {
					t.Fatalf("%s is not supported", ti.Type)
				}
				ref, err := os.ReadFile(filepath.Join(dir, typ+"."+name+".f32"))
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, ti.Elements())
				if len(ref) != 4*len(got) {
					t.Fatalf("%s: reference has %d bytes for %d values", name, len(ref), len(got))
				}
				Dequantize(ti.Type, f.TensorData(ti), got)
				bad := 0
				for i, v := range got {
					want := binary.LittleEndian.Uint32(ref[4*i:])
					if math.Float32bits(v) != want {
						if bad < 5 {
							t.Errorf("%s %s[%d] (row %d): got %v (%08x), llama.cpp %v (%08x)", typ, name, i, i/int(ti.Dims[0]), v, math.Float32bits(v), math.Float32frombits(want), want)
						}
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("%s %s: %d of %d values differ", typ, name, bad, len(got))
				}
			}
		})
	}
}

// conformanceMat loads a tensor of ../shared/conformance/quants as a matrix.
func conformanceMat(t *testing.T, typ, name string) (*Mat, []float32) {
	t.Helper()
	dir := filepath.Dir(shared.Path(t, "conformance/quants/index.json"))
	f, err := gguf.Open(filepath.Join(dir, typ+".gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %s", typ, name)
	}
	rows, cols := int(ti.Dims[1]), int(ti.Dims[0])
	m, err := NewMat(ti.Type, rows, cols, f.TensorData(ti))
	if err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, rows*cols)
	Dequantize(ti.Type, f.TensorData(ti), deq)
	return m, deq
}

// TestLlamaCppQuantsOnIntKernels: llama.cpp's IQ4_NL, Q3_K and IQ4_XS
// tensors (run on the Q8_0, Q6_K and Q5_K kernels) and its Q2_K, Q8_0,
// Q4_0, Q4_K, Q5_K and Q6_K tensors: every SIMD level's integer kernels give bitwise the portable
// packedDot, which is within int8 rounding of the activations of the exact
// product with llama.cpp's dequantized weights.
func TestLlamaCppQuantsOnIntKernels(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, typ := range []string{"IQ4_NL", "Q3_K", "IQ4_XS", "Q2_K", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"} {
		for _, name := range []string{"llmlike.weight", "edge.weight"} {
			m, deq := conformanceMat(t, typ, name)
			for _, n := range []int{1, 3, 5, 16} {
				x := make([]float32, n*m.Cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				var a pkActs
				quantizeActs(&a, x, n, m.Cols, nil)
				pk := packRows(m)
				tok := a.groups * pkRecBytes
				want := make([]float32, n*m.Rows)
				for tt := 0; tt < n; tt++ {
					xs := x[tt*m.Cols : (tt+1)*m.Cols]
					for r := 0; r < m.Rows; r++ {
						got := packedDot(m.Type, pk.meta, pk.data[r*pk.stride:(r+1)*pk.stride], a.buf[tt*tok:(tt+1)*tok], a.groups)
						want[tt*m.Rows+r] = got
						exact, tol := 0.0, 1e-4
						w := deq[r*m.Cols : (r+1)*m.Cols]
						for b := 0; b < m.Cols; b += 32 {
							amax := float64(absMax(xs[b : b+32]))
							for i := b; i < b+32; i++ {
								exact += float64(w[i]) * float64(xs[i])
								tol += amax/254*math.Abs(float64(w[i])) + 1e-6*math.Abs(float64(w[i])*float64(xs[i]))
							}
						}
						if math.Abs(float64(got)-exact) > tol {
							t.Fatalf("%s %s row %d: integer kernel %v, exact %v (tolerance %v)", typ, name, r, got, exact, tol)
						}
					}
				}
				if !intKernels() {
					continue
				}
				for _, level := range intLevels() {
					if level == "" {
						continue
					}
					old := intLevel
					intLevel = level
					if !m.useInt() { // IQ4_XS: VNNI only
						intLevel = old
						continue
					}
					// Packed at this level: Q4_K's layout follows it
					// (packRows), and packedDot gives either the same.
					ml, err := NewMat(m.Type, m.Rows, m.Cols, m.Data)
					if err != nil {
						t.Fatal(err)
					}
					y := make([]float32, n*m.Rows)
					ml.Mul(y, x, n, NewPool(2))
					intLevel = old
					for i := range y {
						if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %s %s n=%d: kernel %v, portable %v at %d", level, typ, name, n, y[i], want[i], i)
						}
					}
				}
			}
		}
	}
}
