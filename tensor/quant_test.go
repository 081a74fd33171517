package tensor

import (
	"math"
	"math/rand"
	"testing"

	"s4c/gguf"
)

func TestF16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
	// Rounding to nearest even, overflow and underflow.
	cases := []struct {
		f float32
		h uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {1e-8, 0},
		{1 + 1.0/2048, 0x3c00},          // halfway, round to even (down)
		{1 + 3.0/2048, 0x3c02},          // halfway, round to even (up)
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%v) = %#04x want %#04x", c.f, got, c.h)
		}
	}
	for i := uint64(0); i < 1<<32; i += 4093 { // RoundF16 agrees with the conversions
		x := math.Float32frombits(uint32(i))
		if math.IsNaN(float64(x)) {
			continue
		}
		if a, b := RoundF16(x), F16ToF32(F32ToF16(x)); math.Float32bits(a) != math.Float32bits(b) {
			t.Fatalf("RoundF16(%v) = %v, want %v", x, a, b)
		}
	}
	if BF16ToF32(F32ToBF16(1.5)) != 1.5 || F32ToBF16(1+1.0/256) != 0x3f80 {
		t.Error("bf16 conversion")
	}
}

// TestQuantRoundTrip: every type decodes what it encodes, within the
// resolution the format has (relative to the block's largest value).
func TestQuantRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	x[5] = 0 // exact zeros survive
	tol := map[gguf.TensorType]float64{
		gguf.F32: 0, gguf.F16: 1e-3, gguf.BF16: 8e-3, gguf.Q8_0: 0.01, gguf.Q6_K: 0.04,
		gguf.Q5_0: 0.07, gguf.Q5_1: 0.05, gguf.Q5_K: 0.07, gguf.Q4_0: 0.14, gguf.Q4_1: 0.1, gguf.Q4_K: 0.14, gguf.IQ4_NL: 0.14, gguf.Q3_K: 0.2, gguf.Q2_K: 0.45,
	}
	for typ, tl := range tol {
		enc, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != typ.RowBytes(len(x)) {
			t.Fatalf("%s: %d bytes", typ, len(enc))
		}
		y := make([]float32, len(x))
		Dequantize(typ, enc, y)
		bs := typ.BlockSize()
		if bs < 32 {
			bs = 32
		}
		var errSum float64
		for b := 0; b < len(x); b += bs {
			amax := float64(absMax(x[b : b+bs]))
			for i := b; i < b+bs; i++ {
				e := math.Abs(float64(x[i] - y[i]))
				errSum += e * e
				if e > tl*amax+1e-7 {
					t.Fatalf("%s: element %d: %v decoded as %v (block max %v)", typ, i, x[i], y[i], amax)
				}
			}
		}
		t.Logf("%s: rms error %.4f", typ, math.Sqrt(errSum/float64(len(x))))
	}
}

// TestMulMatchesDequantized: the matrix kernel equals dot products against
// the dequantized rows, for every supported type and batch size.
func TestMulMatchesDequantized(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	rows, cols := 37, 512
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for _, typ := range []gguf.TensorType{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q2_K, gguf.Q3_K, gguf.IQ4_NL} {
		enc, _ := Quantize(typ, w)
		m, err := NewMat(typ, rows, cols, enc)
		if err != nil {
			t.Fatal(err)
		}
		deq := make([]float32, rows*cols)
		Dequantize(typ, enc, deq)
		for _, n := range []int{1, 3, 16} {
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, n*rows)
			m.Mul(y, x, n, NewPool(2))
			for i := 0; i < n; i++ {
				for r := 0; r < rows; r++ {
					var want float64
					for c := 0; c < cols; c++ {
						want += float64(deq[r*cols+c]) * float64(x[i*cols+c])
					}
					tol := 1e-3 * (1 + math.Abs(want))
					if m.useInt() {
						// Activations are rounded to int8 per block of 32:
						// each is off by at most max|x_block|/254.
						for b := 0; b < cols; b += 32 {
							amax := float64(absMax(x[i*cols+b : i*cols+b+32]))
							for c := b; c < b+32; c++ {
								tol += amax / 254 * math.Abs(float64(deq[r*cols+c]))
							}
						}
					}
					if d := math.Abs(float64(y[i*rows+r]) - want); d > tol {
						t.Fatalf("%s n=%d: y[%d,%d] = %v, want %v", typ, n, i, r, y[i*rows+r], want)
					}
				}
			}
		}
	}
}

func TestUnsupported(t *testing.T) {
	if _, err := NewMat(gguf.IQ2_XS, 1, 256, make([]byte, 74)); err == nil {
		t.Fatal("IQ2_XS accepted")
	} else if want := "IQ2_XS"; !contains(err.Error(), want) {
		t.Fatalf("error %q does not name the type", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestExp(t *testing.T) {
	for x := float32(-87); x < 88; x += 0.37 {
		got, want := float64(Exp(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 3e-7*want {
			t.Fatalf("Exp(%v) = %v want %v", x, got, want)
		}
	}
	if Exp(-200) != 0 || !math.IsInf(float64(Exp(200)), 1) {
		t.Fatal("Exp range")
	}
}

// TestMulManyMatchesMul: multiplying matrices that share an input in one
// call gives each matrix's Mul bit for bit (same types, mixed types, odd
// row counts that split unevenly among threads).
func TestMulManyMatchesMul(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	cols := 512
	mk := func(typ gguf.TensorType, rows int) *Mat {
		w := make([]float32, rows*cols)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		enc, _ := Quantize(typ, w)
		m, err := NewMat(typ, rows, cols, enc)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := [][]*Mat{
		{mk(gguf.Q8_0, 67), mk(gguf.Q8_0, 19), mk(gguf.Q8_0, 19)},
		{mk(gguf.Q4_K, 40), mk(gguf.Q6_K, 33)},
		{mk(gguf.F16, 45), mk(gguf.F16, 7)},
		{mk(gguf.Q5_K, 21), mk(gguf.F32, 30)},
		{mk(gguf.Q8_0, 20), mk(gguf.F16, 20)}, // mixed paths: falls back to Mul
	}
	for ci, ms := range cases {
		for _, n := range []int{1, 2, 5, 9} {
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			ys := make([][]float32, len(ms))
			for i, m := range ms {
				ys[i] = make([]float32, n*m.Rows)
			}
			MulMany(x, n, NewPool(2), ms, ys)
			for i, m := range ms {
				want := make([]float32, n*m.Rows)
				m.Mul(want, x, n, NewPool(3))
				for j := range want {
					if math.Float32bits(ys[i][j]) != math.Float32bits(want[j]) {
						t.Fatalf("case %d (%s) n=%d: matrix %d element %d = %v, Mul gives %v", ci, m.Type, n, i, j, ys[i][j], want[j])
					}
				}
			}
		}
	}
}

// TestScaleRoundF16MatchesGo: the vector rounding equals RoundF16(x·s) for
// values across float16's range: subnormals, ties, overflow to infinity.
func TestScaleRoundF16MatchesGo(t *testing.T) { eachKernel(t, testScaleRoundF16MatchesGo) }

func testScaleRoundF16MatchesGo(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	x := make([]float32, 4099)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = float32(rng.NormFloat64())
		case 1:
			x[i] = float32(rng.NormFloat64() * 1e-6) // float16 subnormals
		case 2:
			x[i] = float32(rng.NormFloat64() * 4e4) // near and past 65504
		default:
			// A tie between two float16 values, or just beside one.
			h := F16ToF32(uint16(rng.Intn(0x7c00)))
			x[i] = math.Float32frombits(math.Float32bits(h) + 0x1000 + uint32(rng.Intn(3)) - 1)
		}
	}
	x[0], x[1], x[2] = float32(math.Inf(1)), 0, float32(math.Copysign(0, -1))
	// Every short length: the vector kernel's masked tail.
	for n := 1; n <= 20; n++ {
		got := append([]float32(nil), x[:n+1]...)
		ScaleRoundF16(got[:n], 0.37)
		for i, v := range x[:n] {
			if want := RoundF16(v * 0.37); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: x[%d] = %v, want %v", n, i, got[i], want)
			}
		}
		if got[n] != x[n] {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
	for _, s := range []float32{1, 0.37, 3e-3} {
		got := append([]float32(nil), x...)
		ScaleRoundF16(got, s)
		for i, v := range x {
			if want := RoundF16(v * s); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("s=%v x[%d]=%v: %v, want %v", s, i, v, got[i], want)
			}
		}
	}
}

// TestSiLUs: the slice form gives SiLU of every element bit for bit.
func TestSiLUs(t *testing.T) { eachKernel(t, testSiLUs) }

func testSiLUs(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	x := make([]float32, 700)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 6)
	}
	x[0], x[1] = -150, 150
	got := append([]float32(nil), x...)
	SiLUs(got)
	for i, v := range x {
		if want := SiLU(v); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("SiLUs x[%d]=%v: %v, SiLU %v", i, v, got[i], want)
		}
	}
}
