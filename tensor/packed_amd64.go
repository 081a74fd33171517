package tensor

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"s4c/gguf"
)

var hasVNNI = cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW

// intLevel names the integer kernels in use: "vnni" (AVX-512 VNNI),
// "avx2" (vpmaddubsw; also AVX-512 machines without VNNI) or "" (none:
// quantized weights are decoded to float32 instead).
var intLevel = intLevels()[0]

// pairRows lets one-token products take rows in far pairs
// (pkPairKernels); off only to compare with one row at a time
// (BenchmarkStreamPairs).
var pairRows = true

// pairMinRows is the fewest rows a range must have for pairs.
const pairMinRows = 64

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

// quantBlocksAVX2 is quantBlocksAVX512 with 256-bit vectors.
//
//go:noescape
func quantBlocksAVX2(x *float32, n int, rec *byte)

// quantizeGroup quantizes the n blocks of x (n <= 16) into one record.
// On AVX2 machines this ran in Go: 6 % of a 1.1B Q4_K decoding step.
func quantizeGroup(rec []byte, x []float32, n int) {
	if Kernel != "avx512" && Kernel != "avx2" || n == 0 {
		quantizeGroupGo(rec, x, n)
		return
	}
	_ = rec[pkRecBytes-1]
	_ = x[32*n-1]
	if Kernel == "avx512" {
		quantBlocksAVX512(&x[0], n, &rec[0])
		return
	}
	quantBlocksAVX2(&x[0], n, &rec[0])
}

// mulIntRows computes rows [lo, hi) of y for quantized activations a
// (scratch: the thread's own, for partial sums).
func (m *Mat) mulIntRows(y []float32, a *pkActs, n, lo, hi int, scratch *Scratch) {
	// The kernels by packed layout (pkKernels' order).
	typ := 0
	switch m.Type {
	case gguf.Q4_0:
		typ = 1
	case gguf.Q4_K:
		typ = 2
	case gguf.Q6_K:
		typ = 3
	case gguf.Q5_K:
		typ = 4
	case gguf.Q5_0:
		typ = 5
	case gguf.Q4_1:
		typ = 6
	case gguf.Q5_1:
		typ = 7
	case gguf.Q2_K:
		typ = 8
	case gguf.IQ4_XS:
		typ = 9
	case gguf.IQ4_NL:
		typ = 10
	case gguf.Q3_K:
		typ = 11
	}
	p, tok := m.pk, a.groups*pkRecBytes
	if typ == 2 && p.meta == k8MetaBytes {
		typ = 12 // Q4_K with int8 scales (see packRows)
	}
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
	qb := packedQuantBytes(m.Type)
	scales := p.groups * qb // from a row's first quant to its first scale
	if n <= rowByRow {
		// One token through rows of up to pairGroups[typ] groups: pairs of
		// rows half the range apart, two streams of weights (see
		// internal/asmgen/pair.go); the odd row left one at a time.
		// Ranges of fewer than pairMinRows rows (the chunks a thread takes
		// at the end of a small product) go one row at a time: two streams
		// close together, each started with its own prefetch burst, read
		// slower than one. Alternated in one process, a 1.1B shape's 22 O
		// matrices (chunks of 32 rows) at 51.7-55.7 GB/s against 49.5-51.6
		// with pairs in every range, gate and up alike (60.8-64.1 against
		// 61.3-64.0); whole 1.1B Q4_K steps 9.8-10.4 ms against 10.0-10.4
		// (medians of 120, alternated four steps at a time).
		if pair := pkPairKernels[typ]; n == 1 && pairRows && pair != nil && p.groups <= pairGroups[typ] && hi-lo >= pairMinRows {
			even := (hi - lo) &^ 1
			pair(&p.data[lo*p.stride], p.stride, &a.buf[0], tok, p.groups, &y[lo], even, ostride, nil, accFinish, scales)
			if lo += even; lo == hi {
				return
			}
		}
		// One tile of all tokens, one row at a time.
		pkKernels[typ][0][n-1](&p.data[lo*p.stride], p.stride, &a.buf[0], tok, p.groups, &y[lo], hi-lo, ostride, nil, accFinish, scales)
		return
	}
	// Blocks of rows, each multiplied by every token tile before the next
	// block. Wide rows at batches of up to 16 are taken kc groups at a
	// time (see chunkGroups), their 16-lane accumulators carried in acc
	// from one chunk to the next (the kernels' accIn and accFinish modes),
	// so that the result is bitwise the unchunked one.
	var sizesBuf [64]int
	sizes := evenTiles(n, packedMaxT4, sizesBuf[:0])
	block, kc := rowBlock(n), chunkGroups(n, p.groups)
	var acc []float32
	if kc < p.groups {
		block = chunkRows
		acc = scratch.AlignedFloats(chunkRows * 16 * n) // the kernels' accumulators
	}
	accAt := func(i int) *float32 {
		if acc == nil {
			return nil
		}
		return &acc[i]
	}
	mb := p.meta
	// A prompt's block of Q4_K rows, which every token tile passes, has its
	// scales unpacked once, into meta (row r at r·stride bytes, as in the
	// rows, so that the kernels find them at the same offset from each
	// row), and is multiplied by Q4_1's kernels, whose quants are Q4_K's
	// and whose scales are float32: the same arithmetic (see
	// pkExpandK6AVX512). meta has four rows to spare for the four-row
	// kernels' prefetch of the next rows' scales. Only for prompts (1.1B
	// Q4_K, 256 tokens, four alternated runs of bench engine: 388-420
	// tok/s against 367-409 without):
	// at 4-16 tokens the unpacking on its own cost more than the passes
	// saved (t(8) 10-13 % slower), and so did tiles that wrote the scales
	// they unpacked for the later ones.
	var meta []float32
	if n > 16 && typ == 2 {
		meta = alignedIn(&scratch.meta, (block+4)*p.stride/4)
		typ = 6
	}
	for rb := lo; rb < hi; rb += block {
		rbe := min(rb+block, hi)
		r4 := (rbe - rb) / 4 * 4
		for g0 := 0; g0 < p.groups; g0 += kc {
			g1 := min(g0+kc, p.groups)
			mode := 0
			if g0 > 0 {
				mode |= accIn
			}
			if g1 == p.groups {
				mode |= accFinish
			}
			w := rb*p.stride + g0*qb
			sc := scales + g0*(mb-qb) // from the chunk's first quant to its first scale
			if meta != nil {
				pkExpandK6AVX512(&p.data[w+sc], p.stride, g1-g0, rbe-rb, (*byte)(unsafe.Pointer(&meta[0])))
				sc = int(uintptr(unsafe.Pointer(&meta[0])) - uintptr(unsafe.Pointer(&p.data[w])))
			}
			t := 0
			for i, T := range sizes {
				// The first tile reads the rows from memory and prefetches
				// the next ones; later tiles find them in cache. In blocks
				// of 4 rows they prefetch again: a burst of prefetches in
				// the first tile alone left some undone (1.1B Q8_0
				// alternated: t(5) 40 -> 34-35 ms, t(8) 55-56 -> 49-52 ms).
				ri := 1
				if i > 0 && block > 4 {
					ri = 2
				}
				x := &a.buf[t*tok+g0*pkRecBytes]
				ac := block * 16 * t
				if r4 > 0 {
					pkKernels[typ][ri][T-1](&p.data[w], p.stride, x, tok, g1-g0, &y[t*m.Rows+rb], r4, ostride, accAt(ac), mode, sc)
				}
				if rb+r4 < rbe {
					pkKernels[typ][0][T-1](&p.data[w+r4*p.stride], p.stride, x, tok, g1-g0, &y[t*m.Rows+rb+r4], rbe-rb-r4, ostride, accAt(ac+r4*T*16), mode, sc)
				}
				t += T
			}
		}
	}
}

// actsL1 bounds the activation bytes (all tokens, one chunk of groups)
// that the chunked product keeps near the core while it passes a block of
// rows (measured: 20, 32 and 48 KiB; 48 was best, and leaves the
// 2048-wide projections of a 1.1B model unchunked up to 16 tokens).
const actsL1 = 48 << 10

// chunkRows is the chunked product's block of rows: their quants for one
// chunk stay in L1 while every token tile passes them (8 and 16 measured
// alike).
const chunkRows = 8

// chunkGroups is how many groups of a row the kernels take per call: all
// of them unless the tokens' activation records for a whole row outgrow
// actsL1 (a 1.1B model's 5632-wide FFN-down rows: 62 KiB at 8 tokens),
// then as few even chunks as fit. Each chunk's activations then come from
// L2 once per block of chunkRows rows, not once per four rows (1.1B Q8_0
// FFN-down shape, 2 threads, in cache: 8 tokens 370-530 -> 570-735 GOPS,
// 16 tokens 550-640 -> 740-860; the whole model, alternated: t(16) 66-70
// -> 63-64 ms, t(8) alike). Batches of more than 16 (prompts) keep
// whole rows: their blocks of 64 rows already reuse each token tile's
// activations 64 times, and chunks of one or two groups cost more in calls
// than they save (256-token prompts: 297 -> 255 tok/s when chunked).
func chunkGroups(n, groups int) int {
	if n > 16 || n*groups*pkRecBytes <= actsL1 {
		return groups
	}
	kc := max(1, actsL1/(n*pkRecBytes))
	chunks := (groups + kc - 1) / kc
	return (groups + chunks - 1) / chunks
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

// rowByRow is the largest batch multiplied one row at a time: plain
// decoding only. With the four-row tiles' prefetch of the next rows and
// their once-per-group loads, they beat the one-row kernels from two
// tokens on (1.1B, t(N)/t(1) for N=2,3,4 in alternated runs; Q8_0: one
// row 1.06-1.20, 1.15-1.31, 1.18-1.47; four rows 1.03-1.05, 1.04-1.17,
// 1.17-1.29. Q4_0: one row 1.14-1.25, 1.40-1.45, 1.78-1.93; four rows
// 1.04-1.08, 1.17-1.24, 1.39-1.60). Earlier kernels measured the other
// way round.
const rowByRow = 1
