package tensor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"golang.org/x/sys/cpu"

	"s4c/gguf"
)

// TestDotKernelsMatchGo holds every assembly kernel to the pure-Go result,
// bit for bit, on random data of many lengths and magnitudes.
func TestDotKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	kernels := map[string]func(a, b []float32) float32{"dispatch": dot16}
	addAsmKernels(kernels)
	for trial := 0; trial < 3000; trial++ {
		n := 16 * (1 + rng.Intn(300))
		a, b := make([]float32, n), make([]float32, n)
		scale := math.Pow(10, float64(rng.Intn(8)-4))
		for i := range a {
			a[i] = float32(rng.NormFloat64() * scale)
			b[i] = float32(rng.NormFloat64())
		}
		want := dot16Go(a, b)
		for name, k := range kernels {
			if got := k(a, b); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s n=%d: %v, pure Go %v", name, n, got, want)
			}
		}
	}
	t.Logf("kernel in use: %s; checked %d kernels", Kernel, len(kernels))
	for trial := 0; trial < 1000; trial++ {
		n := 64 * (1 + rng.Intn(40))
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		if got, want := dot64(a, b), dot64Go(a, b); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("dot64 n=%d: %v, pure Go %v", n, got, want)
		}
		m := 8 * (1 + rng.Intn(20))
		acc, acc2 := make([]float32, m), make([]float32, m)
		for i := range acc {
			acc[i] = float32(rng.NormFloat64())
			acc2[i] = acc[i]
		}
		p := float32(rng.NormFloat64())
		v := make([]float32, m)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		FMARow(acc, p, v)
		fmaRowGo(acc2, p, v)
		for i := range acc {
			if math.Float32bits(acc[i]) != math.Float32bits(acc2[i]) {
				t.Fatalf("FMARow n=%d element %d: %v, pure Go %v", m, i, acc[i], acc2[i])
			}
		}
		// FMARows: rows of v at a stride, any width (64-column blocks and
		// a tail), against FMARow row after row.
		w, rows := 1+rng.Intn(200), 1+rng.Intn(40)
		stride := w + rng.Intn(9)
		vs, ps := make([]float32, rows*stride), make([]float32, rows)
		for i := range vs {
			vs[i] = float32(rng.NormFloat64())
		}
		for i := range ps {
			ps[i] = float32(rng.NormFloat64())
		}
		acc, acc2 = make([]float32, w), make([]float32, w)
		for i := range acc {
			acc[i] = float32(rng.NormFloat64())
			acc2[i] = acc[i]
		}
		FMARows(acc, ps, vs, stride)
		for k := range ps {
			fmaRowGo(acc2, ps[k], vs[k*stride:k*stride+w])
		}
		for i := range acc {
			if math.Float32bits(acc[i]) != math.Float32bits(acc2[i]) {
				t.Fatalf("FMARows width %d rows %d element %d: %v, FMARow %v", w, rows, i, acc[i], acc2[i])
			}
		}
	}
}

// TestFMA32 checks the float32 fused multiply-add against exact rational
// arithmetic on cases built to expose double rounding.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for i := 0; i < 200000; i++ {
		a := float32(rng.NormFloat64())
		b := float32(rng.NormFloat64())
		c := float32(rng.NormFloat64())
		if i%2 == 0 { // make a*b+c land near a float32 midpoint
			c = -float32(float64(a) * float64(b))
		}
		got := FMA32(a, b, c)
		want := fmaRef(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("FMA32(%v,%v,%v) = %v want %v", a, b, c, got, want)
		}
	}
}

func BenchmarkDot(b *testing.B) {
	x, y := make([]float32, 2048), make([]float32, 2048)
	for i := range x {
		x[i], y[i] = float32(i%7), float32(i%5)
	}
	b.SetBytes(2048 * 8)
	for i := 0; i < b.N; i++ {
		Dot(x, y)
	}
}

// TestTilesMatchGeneric: the SIMD matrix tiles give bitwise the result of
// the portable path (dequantize, then the 16-lane dot) for every batch size.
func TestTilesMatchGeneric(t *testing.T) { eachKernel(t, testTilesMatchGeneric) }

func testTilesMatchGeneric(t *testing.T) {
	// 2080 columns: rows the AVX2 F16 kernels take in chunks of 1024
	// columns, the last one partial.
	for _, shape := range [][2]int{{151, 320}, {37, 2080}} {
		testTilesShape(t, shape[0], shape[1])
	}
}

func testTilesShape(t *testing.T, rows, cols int) {
	rng := rand.New(rand.NewSource(21))
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for _, typ := range []gguf.TensorType{gguf.F32, gguf.F16, gguf.BF16} {
		enc, _ := Quantize(typ, w)
		m, _ := NewMat(typ, rows, cols, enc)
		for _, n := range []int{1, 3, 7, 8, 9, 13, 17} { // one tile; two and three (the later ones kernelsFnb)
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			fast := make([]float32, n*rows)
			m.Mul(fast, x, n, NewPool(2))
			saved := Kernel
			Kernel = "generic"
			slow := make([]float32, n*rows)
			m.Mul(slow, x, n, NewPool(1))
			Kernel = saved
			for i := range fast {
				if math.Float32bits(fast[i]) != math.Float32bits(slow[i]) {
					t.Fatalf("%s n=%d element %d: kernel %s gives %v, generic %v", typ, n, i, Kernel, fast[i], slow[i])
				}
			}
		}
	}
}

// TestIntKernelsMatchGo: the VNNI kernels (Q8_0, Q4_0, Q4_K; packed rows)
// give bitwise the portable packedDot's result, for every batch size and
// for rows whose last group of 16 blocks is partly padding.
func TestIntKernelsMatchGo(t *testing.T) {
	if !intKernels() {
		t.Skip("no AVX-512 VNNI or AVX2 here: integer kernels are not used")
	}
	defer func(l string) { intLevel = l }(intLevel)
	for _, level := range intLevels() {
		if level == "" {
			continue
		}
		intLevel = level
		t.Run(level, testIntKernelsMatchGo)
	}
}

func testIntKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	// 2560 (5 groups): wide enough that batches of 5+ take rows in chunks
	// of groups (mulIntChunked). One-row kernels take rows of up to six
	// groups unrolled (entered at each copy: 1, 3, 5, 6 groups here) and
	// longer ones in a loop (3584: 7 groups).
	for _, cols := range []int{384, 512, 1120, 1280, 2560, 3072, 3584} {
		rows := 21
		if cols == 512 {
			rows = 150 // several row blocks for long batches
		}
		w := make([]float32, rows*cols)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		for _, typ := range []gguf.TensorType{gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.IQ4_NL, gguf.Q3_K, gguf.Q2_K} {
			if cols%typ.BlockSize() != 0 {
				continue
			}
			enc, _ := Quantize(typ, w)
			m, _ := NewMat(typ, rows, cols, enc)
			for _, n := range []int{1, 2, 3, 4, 5, 8, 13, 16, 40} {
				x := make([]float32, n*cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 3)
				}
				mulMatchesPackedDot(t, m, x, n, fmt.Sprintf("%s cols=%d n=%d", typ, cols, n))
			}
		}
	}
}

// TestPairRowsMatchGo: one token through ranges of rows long enough to
// be taken in far pairs (pkPairKernels: 64 rows and more), of even and
// odd length, starting at row 0 and inside the matrix, for rows of one
// to seven groups (seven: too long for pairs): bitwise packedDot's.
func TestPairRowsMatchGo(t *testing.T) {
	if !intKernels() {
		t.Skip("no AVX-512 VNNI or AVX2 here: integer kernels are not used")
	}
	rng := rand.New(rand.NewSource(9))
	const rows = 160
	for _, cols := range []int{512, 1024, 1536, 2048, 2560, 3072, 3584} {
		w := make([]float32, rows*cols)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		var a pkActs
		quantizeActs(&a, x, 1, cols, nil)
		tok := a.groups * pkRecBytes
		for _, typ := range []gguf.TensorType{gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.IQ4_NL, gguf.Q3_K, gguf.Q2_K, gguf.IQ4_XS} {
			var m *Mat
			if typ == gguf.IQ4_XS { // read, not quantized, here
				if cols%256 != 0 {
					continue
				}
				m, _ = repeatedMat(t, typ, rows, cols)
			} else {
				enc, _ := Quantize(typ, w)
				m, _ = NewMat(typ, rows, cols, enc)
			}
			if !m.Prepare() || !m.useInt() {
				continue
			}
			for _, r := range [][2]int{{0, 64}, {3, 70}, {0, rows}, {17, rows - 2}} {
				y := make([]float32, rows)
				var s Scratch
				m.mulIntRows(y, &a, 1, r[0], r[1], &s)
				for i := r[0]; i < r[1]; i++ {
					want := packedDot(m.Type, m.pk.meta, m.pk.data[i*m.pk.stride:(i+1)*m.pk.stride], a.buf[:tok], a.groups)
					if math.Float32bits(y[i]) != math.Float32bits(want) {
						t.Fatalf("%s cols=%d rows [%d, %d): row %d %v, portable %v", typ, cols, r[0], r[1], i, y[i], want)
					}
				}
			}
		}
	}
}

// TestIntDotAccuracy holds the portable integer kernel (which the VNNI
// assembly must equal bit for bit) to the exact product of the dequantized
// weights and the activations, within the int8 rounding of the activations.
func TestIntDotAccuracy(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, cols := range []int{256, 1056, 1280} {
		for _, typ := range []gguf.TensorType{gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.IQ4_NL, gguf.Q3_K, gguf.Q2_K} {
			if cols%typ.BlockSize() != 0 {
				continue
			}
			w := make([]float32, cols)
			x := make([]float32, cols)
			for i := range w {
				w[i], x[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			enc, _ := Quantize(typ, w)
			m, _ := NewMat(typ, 1, cols, enc)
			deq := make([]float32, cols)
			Dequantize(typ, enc, deq)
			var a pkActs
			quantizeActs(&a, x, 1, cols, nil)
			pk := packRows(m)
			got := float64(packedDot(typ, pk.meta, pk.data, a.buf, a.groups))
			want, tol := 0.0, 1e-4
			for b := 0; b < cols; b += 32 {
				amax := float64(absMax(x[b : b+32]))
				for i := b; i < b+32; i++ {
					want += float64(deq[i]) * float64(x[i])
					tol += amax / 254 * math.Abs(float64(deq[i]))
				}
			}
			if math.Abs(got-want) > tol {
				t.Errorf("%s cols=%d: integer kernel %v, exact %v (tolerance %v)", typ, cols, got, want, tol)
			}
		}
	}
}

// TestAttentionKernelsMatchGo: DotRows and AccumRows16 give bitwise the
// results of their per-row Go forms (Dot, FMARow) whatever the kernel.
func TestAttentionKernelsMatchGo(t *testing.T) { eachKernel(t, testAttentionKernelsMatchGo) }

func testAttentionKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, c := range []struct{ d, nq, stride, n, a0 int }{
		{64, 8, 256, 37, 3}, {64, 1, 64, 5, 0}, {48, 3, 100, 16, 15}, {20, 2, 20, 9, 1},
		{64, 2, 256, 1, 7}, {64, 2, 64, 2, 14}, {64, 1, 64, 3, 0}, {64, 1, 64, 4, 9},
		{64, 1, 64, 19, 5}, {128, 2, 512, 35, 11}, {128, 4, 128, 300, 2}, {192, 1, 192, 20, 0},
	} {
		q := make([]float32, c.nq*c.d)
		k := make([]float32, c.n*c.stride)
		p := make([]float32, c.n)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		for i := range k {
			k[i] = float32(rng.NormFloat64())
		}
		for i := range p {
			p[i] = float32(rng.Float64())
		}
		out := make([]float32, c.n*c.nq)
		DotRows(out, c.n, q, c.nq, k, c.stride, c.n)
		// Rows already hold earlier positions' sums (runs of the cache).
		rows := make([]float32, 16*c.d)
		for i := range rows {
			rows[i] = float32(rng.NormFloat64())
		}
		want := append([]float32(nil), rows...)
		AccumRows16(rows, c.d, p, k, c.stride, c.n, c.a0)
		for a := 0; a < c.n; a++ {
			for h := 0; h < c.nq; h++ {
				w := Dot(q[h*c.d:(h+1)*c.d], k[a*c.stride:a*c.stride+c.d])
				if math.Float32bits(out[h*c.n+a]) != math.Float32bits(w) {
					t.Fatalf("%+v: DotRows row %d head %d = %v, Dot %v", c, a, h, out[h*c.n+a], w)
				}
			}
			r := (c.a0 + a) % 16 * c.d
			fmaRowGo(want[r:r+c.d], p[a], k[a*c.stride:a*c.stride+c.d])
		}
		for i := range rows {
			if math.Float32bits(rows[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: AccumRows16 element %d = %v, Go %v", c, i, rows[i], want[i])
			}
		}
	}
}

// TestExpShiftMatchesExp: the vector exponential equals Exp bit for bit,
// over the whole range softmax and SiLU use and beyond.
func TestExpShiftMatchesExp(t *testing.T) { eachKernel(t, testExpShiftMatchesExp) }

func testExpShiftMatchesExp(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	src := make([]float32, 100003)
	for i := range src {
		switch i % 4 {
		case 0:
			src[i] = float32(rng.Float64()*220 - 200) // down to underflow
		case 1:
			src[i] = float32(rng.NormFloat64() * 4)
		case 2:
			src[i] = -float32(rng.ExpFloat64() * 30)
		default:
			src[i] = float32(rng.Float64()*100 - 10) // up to overflow
		}
	}
	src[0], src[1], src[2] = float32(math.Inf(-1)), 0, -103.5
	// Every short length: the vector kernel's masked tail.
	for n := 1; n <= 40; n++ {
		dst := make([]float32, n+1)
		ExpShift(dst[:n], src[:n], 0.5)
		for i, v := range src[:n] {
			if want := Exp(v - 0.5); math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: Exp(%v - 0.5): vector %v, scalar %v", n, v, dst[i], want)
			}
		}
		if dst[n] != 0 {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
	for _, sub := range []float32{0, 3.25, -1} {
		dst := make([]float32, len(src))
		ExpShift(dst, src, sub)
		for i, v := range src {
			want := Exp(v - sub)
			if math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("Exp(%v - %v): vector %v (%#x), scalar %v (%#x)", v, sub, dst[i], math.Float32bits(dst[i]), want, math.Float32bits(want))
			}
		}
	}
}

// TestSwiGLUMatchesSiLU: the chunked vector SwiGLU is SiLU(g)·u bit for bit.
func TestSwiGLUMatchesSiLU(t *testing.T) { eachKernel(t, testSwiGLUMatchesSiLU) }

func testSwiGLUMatchesSiLU(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	for _, n := range []int{1, 7, 256, 600} {
		g, u := make([]float32, n), make([]float32, n)
		for i := range g {
			g[i], u[i] = float32(rng.NormFloat64()*6), float32(rng.NormFloat64())
		}
		want := make([]float32, n)
		for i := range g {
			want[i] = SiLU(g[i]) * u[i]
		}
		SwiGLU(g, u)
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d element %d: %v, want %v", n, i, g[i], want[i])
			}
		}
	}
}

func TestEvenTiles(t *testing.T) {
	for _, c := range []struct {
		n, maxT int
		want    string
	}{{1, 3, "[1]"}, {4, 3, "[2 2]"}, {7, 6, "[4 3]"}, {16, 3, "[3 3 3 3 2 2]"}, {6, 6, "[6]"}} {
		if got := fmt.Sprint(evenTiles(c.n, c.maxT, nil)); got != c.want {
			t.Errorf("evenTiles(%d, %d) = %s, want %s", c.n, c.maxT, got, c.want)
		}
	}
}

// TestQuantizeGroupMatchesGo holds the assembly activation quantizer to
// quantizeBlock bit for bit: zero blocks, partial groups, values on
// rounding ties and magnitudes from 1e-30 to 1e30.
func TestQuantizeGroupMatchesGo(t *testing.T) { eachKernel(t, testQuantizeGroupMatchesGo) }

func testQuantizeGroupMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.Intn(pkBlocks)
		x := make([]float32, 32*n)
		scale := math.Pow(10, float64(rng.Intn(61)-30))
		for i := range x {
			switch rng.Intn(8) {
			case 0:
				x[i] = 0
			case 1:
				x[i] = float32(rng.Intn(255)-127) * 0.5 // ties after scaling by 127/max
			default:
				x[i] = float32(rng.NormFloat64() * scale)
			}
		}
		if trial%7 == 0 {
			clear(x[:32]) // an all-zero block: d = 0, inv = 0
		}
		got, want := make([]byte, pkRecBytes), make([]byte, pkRecBytes)
		quantizeGroup(got, x, n)
		quantizeGroupGo(want, x, n)
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("trial %d (n=%d, scale %g): record byte %d = %d, portable %d", trial, n, scale, i, got[i], want[i])
				}
			}
		}
	}
}

// TestReduceRows16MatchesGo: the vector tree sum of 16 rows is Reduce16 of
// each column.
func TestReduceRows16MatchesGo(t *testing.T) { eachKernel(t, testReduceRows16MatchesGo) }

func testReduceRows16MatchesGo(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, d := range []int{16, 64, 128, 20} {
		rows := make([]float32, 16*d)
		for i := range rows {
			rows[i] = float32(rng.NormFloat64() * 100)
		}
		got := make([]float32, d)
		ReduceRows16(got, rows, d)
		for i := range got {
			var lanes [16]float32
			for l := range lanes {
				lanes[l] = rows[l*d+i]
			}
			if want := Reduce16(&lanes); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("d=%d column %d: %v, want %v", d, i, got[i], want)
			}
		}
	}
}

// TestScaleMaxSumBlocks: the vector scale-and-max and block sums give the
// portable loops' results bit for bit.
func TestScaleMaxSumBlocks(t *testing.T) { eachKernel(t, testScaleMaxSumBlocks) }

func testScaleMaxSumBlocks(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, n := range []int{1, 15, 16, 17, 64, 273} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 10)
		}
		want := append([]float32(nil), x...)
		wantMax := float32(math.Inf(-1))
		for i, v := range want {
			want[i] = v * 0.125
			if want[i] > wantMax {
				wantMax = want[i]
			}
		}
		if got := ScaleMax(x, 0.125); got != wantMax {
			t.Fatalf("n=%d: max %v, want %v", n, got, wantMax)
		}
		var wantSum float64
		var lanes [16]float32
		for a, v := range want {
			if math.Float32bits(x[a]) != math.Float32bits(v) {
				t.Fatalf("n=%d element %d: %v, want %v", n, a, x[a], v)
			}
			lanes[a%16] = v
			if a%16 == 15 || a == n-1 {
				for r := a%16 + 1; r < 16; r++ {
					lanes[r] = 0
				}
				wantSum += float64(Reduce16(&lanes))
			}
		}
		if got := SumBlocks16(x); math.Float64bits(got) != math.Float64bits(wantSum) {
			t.Fatalf("n=%d: sum %v, want %v", n, got, wantSum)
		}
	}
}

// eachKernel runs test with the SIMD kernels of this machine and again
// with the portable code, so that both sides of a kernel and its Go twin
// are held to the same expected values.
func eachKernel(t *testing.T, test func(*testing.T)) {
	saved := Kernel
	defer func() { Kernel = saved }()
	kernels := []string{saved}
	if saved == "avx512" && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		kernels = append(kernels, "avx2") // the AVX2 machines' kernels
	}
	if saved != "generic" {
		kernels = append(kernels, "generic")
	}
	for _, k := range kernels {
		Kernel = k
		t.Run(k, test)
	}
}

// TestAccumRows16Heads4: four heads accumulated together get exactly the
// rows that AccumRows16 gives each head alone (value rows strided as in
// the cache, runs starting at any residue, widths that take the vector
// kernel and one that does not).
func TestAccumRows16Heads4(t *testing.T) { eachKernel(t, testAccumRows16Heads4) }

func testAccumRows16Heads4(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, d := range []int{64, 128, 48} {
		for _, n := range []int{1, 5, 16, 17, 40} {
			for _, a0 := range []int{0, 3, 15} {
				stride := 4*d + 8
				v := make([]float32, n*stride)
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
				pstride := n + 7
				p := make([]float32, 3*pstride+n)
				for i := range p {
					p[i] = rng.Float32()
				}
				start := make([]float32, 4*16*d)
				for i := range start {
					start[i] = float32(rng.NormFloat64())
				}
				got := append([]float32(nil), start...)
				AccumRows16Heads4(got, d, p, pstride, v, stride, n, a0)
				want := append([]float32(nil), start...)
				for k := 0; k < 4; k++ {
					AccumRows16(want[k*16*d:(k+1)*16*d], d, p[k*pstride:k*pstride+n], v, stride, n, a0)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("d=%d n=%d a0=%d: rows[%d] = %v, per head %v", d, n, a0, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestQ4KLayoutsOnEachLevel: Q4_K rows are packed with compact scales for
// the VNNI kernels and with int8 scales for the AVX2 ones (packRows), and
// each kernel set multiplies its layout as packedDot does.
func TestQ4KLayoutsOnEachLevel(t *testing.T) {
	if !intKernels() {
		t.Skip("no AVX-512 VNNI or AVX2 here: integer kernels are not used")
	}
	defer func(l string) { intLevel = l }(intLevel)
	rng := rand.New(rand.NewSource(9))
	rows, cols := 40, 1280
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	enc, _ := Quantize(gguf.Q4_K, w)
	for _, level := range intLevels() {
		if level == "" {
			continue
		}
		intLevel = level
		m, _ := NewMat(gguf.Q4_K, rows, cols, enc)
		m.Prepare()
		if want := map[string]int{"vnni": kMetaBytes, "avx2": k8MetaBytes}[level]; m.pk.meta != want {
			t.Fatalf("packed for %s with %d scale bytes a group, want %d", level, m.pk.meta, want)
		}
		for _, n := range []int{1, 3, 8, 20} {
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			mulMatchesPackedDot(t, m, x, n, fmt.Sprintf("%s kernels, n=%d", level, n))
		}
	}
}

// mulMatchesPackedDot multiplies m (packed) by the n tokens x and fails
// unless every result is bitwise packedDot's.
func mulMatchesPackedDot(t *testing.T, m *Mat, x []float32, n int, what string) {
	t.Helper()
	y := make([]float32, n*m.Rows)
	m.Mul(y, x, n, NewPool(2))
	var a pkActs
	quantizeActs(&a, x, n, m.Cols, nil)
	tok := a.groups * pkRecBytes
	for tt := 0; tt < n; tt++ {
		for r := 0; r < m.Rows; r++ {
			row := m.pk.data[r*m.pk.stride : (r+1)*m.pk.stride]
			want := packedDot(m.Type, m.pk.meta, row, a.buf[tt*tok:(tt+1)*tok], a.groups)
			if got := y[tt*m.Rows+r]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s token %d row %d: %v, portable %v", what, tt, r, got, want)
			}
		}
	}
}
