package tensor

import (
	"golang.org/x/sys/cpu"

	"s4c/gguf"
)

var hasVNNI = cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW

// intLevel names the integer kernels in use: "vnni" (AVX-512 VNNI),
// "avx2" (vpmaddubsw; also AVX-512 machines without VNNI) or "" (none:
// quantized weights are decoded to float32 instead).
var intLevel = intLevels()[0]

// intLevels lists the integer kernels this machine can run, best first,
// ending with "".
func intLevels() []string {
	var l []string
	if Kernel == "avx512" && hasVNNI {
		l = append(l, "vnni")
	}
	if Kernel != "generic" && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		l = append(l, "avx2")
	}
	return append(l, "")
}

func intKernels() bool { return intLevel != "" }

// quantBlocksAVX512 is quantizeBlock for blocks 0..n-1 of one group.
//
//go:noescape
func quantBlocksAVX512(x *float32, n int, rec *byte)

// quantizeGroup quantizes the n blocks of x (n <= 16) into one record.
func quantizeGroup(rec []byte, x []float32, n int) {
	if Kernel != "avx512" {
		quantizeGroupGo(rec, x, n)
		return
	}
	_ = rec[pkRecBytes-1]
	_ = x[32*n-1]
	quantBlocksAVX512(&x[0], n, &rec[0])
}

// mulIntRows computes rows [lo, hi) of y for quantized activations a.
func (m *Mat) mulIntRows(y []float32, a *pkActs, n, lo, hi int) {
	// The kernels by packed layout: Q4_1 is Q4_K's (nibbles, scale and
	// offset), Q5_1 is Q5_K's (bytes, scale and offset).
	typ := 0
	switch m.Type {
	case gguf.Q4_0:
		typ = 1
	case gguf.Q4_K, gguf.Q4_1:
		typ = 2
	case gguf.Q6_K:
		typ = 3
	case gguf.Q5_K, gguf.Q5_1:
		typ = 4
	case gguf.Q5_0:
		typ = 5
	}
	p, tok := m.pk, a.groups*pkRecBytes
	ostride := 4 * m.Rows
	if intLevel == "avx2" {
		// One row at a time, tiles of up to 4 tokens; for several tiles
		// a block of rows stays in cache while every tile passes it.
		var sizesBuf [64]int
		sizes := evenTiles(n, packedMaxT, sizesBuf[:0])
		block := hi - lo
		if len(sizes) > 1 {
			block = rowBlock(n)
		}
		for rb := lo; rb < hi; rb += block {
			rbe := min(rb+block, hi)
			t := 0
			for _, T := range sizes {
				pkKernelsAVX2[typ][T-1](&p.data[rb*p.stride], p.stride, &a.buf[t*tok], tok, p.groups, &y[t*m.Rows+rb], rbe-rb, ostride)
				t += T
			}
		}
		return
	}
	if n <= rowByRow {
		// One tile of all tokens, one row at a time.
		pkKernels[typ][0][n-1](&p.data[lo*p.stride], p.stride, &a.buf[0], tok, p.groups, &y[lo], hi-lo, ostride)
		return
	}
	var sizesBuf [64]int
	sizes := evenTiles(n, packedMaxT4, sizesBuf[:0])
	for rb := lo; rb < hi; rb += rowBlock(n) {
		rbe := min(rb+rowBlock(n), hi)
		r4 := (rbe - rb) / 4 * 4
		t := 0
		for i, T := range sizes {
			// The first tile reads the rows from memory and prefetches
			// the next ones; later tiles find them in cache. In blocks of
			// 4 rows they prefetch again: a burst of prefetches in the
			// first tile alone left some undone (1.1B Q8_0 alternated:
			// t(5) 40 -> 34-35 ms, t(8) 55-56 -> 49-52 ms).
			ri := 1
			if i > 0 && rowBlock(n) > 4 {
				ri = 2
			}
			if r4 > 0 {
				pkKernels[typ][ri][T-1](&p.data[rb*p.stride], p.stride, &a.buf[t*tok], tok, p.groups, &y[t*m.Rows+rb], r4, ostride)
			}
			if rb+r4 < rbe {
				pkKernels[typ][0][T-1](&p.data[(rb+r4)*p.stride], p.stride, &a.buf[t*tok], tok, p.groups, &y[t*m.Rows+rb+r4], rbe-rb-r4, ostride)
			}
			t += T
		}
	}
}

// rowBlock is how many rows are multiplied by every token tile before the
// next rows: for long batches (prompts) a block of rows stays in the L2
// cache while all tokens' activations stream past it once, instead of all
// activations (megabytes) streaming past every 4 rows.
func rowBlock(n int) int {
	if n > 16 {
		return 64
	}
	return 4
}

// Most tokens per kernel call (register budget): one row, four rows.
const (
	packedMaxT  = 4
	packedMaxT4 = 3
)

// rowByRow is the largest batch multiplied one row at a time. One
// sequential stream per thread keeps the memory busier than four row
// streams do; 4-row tiles only pay once the batch makes the kernel
// arithmetic-bound (1.1B Q8_0 twin, t(N)/t(1) for N=2,4,6,8 measured
// alternately: one row 1.13-1.16, 1.36-1.40, 1.99-2.03, 2.44-2.47;
// four rows 1.29-1.44, 1.59-1.62, 1.78-2.02, 2.30-2.31).
const rowByRow = 4
