package main

import (
	"bytes"
	"fmt"
	"strings"
)

// Packed integer kernels (see tensor/packed.go for the layouts).
//
// A row of Q8_0 or Q4_0 weights is repacked at load into groups of 16
// blocks in which lane j of every 64-byte vector belongs to block j. One
// vpdpbusd then adds four products of each of 16 blocks into that block's
// own int32 lane, so a block's whole integer dot product (8 instructions
// for Q8_0's 32 values) is finished in its lane before it is converted and
// scaled once: the float work per instruction of integer work drops eight
// times against a layout where a vector holds consecutive values.
//
// Registers for R rows × T tokens: integer accumulators Z4.. (R·T of
// them), float accumulators Z16.., activations Z28.. (Q8_0, when they fit),
// weight temporaries Z0-Z2, nibble mask Z3 (Q4_0).

// packedGeom is the per-type layout: bytes of quants per group and the
// shift that turns the activations' -128·Σx correction into the type's.
type packedGeom struct {
	name    string
	qbytes  int  // quant bytes per group of 16 blocks
	nibbles bool // 4-bit quants, two steps per 64-byte load
	// Plane types: quants as a plane of their low lowBits bits (4: Q4_0's
	// nibbles, 256 bytes; 2: four steps in each byte, 128 bytes) and a
	// plane of their hiBits high bits (64·hiBits bytes), joined into bytes
	// step by step (see planeValues).
	lowBits, hiBits int
	meta            int // scale bytes per group
	// How the integer accumulators start and the float step ends:
	//   corr:    at the record's correction >> corrShift (Q8_0, Q4_0)
	//   offsets: at zero; then + (-Σx)·(m_w·d_x) per block (Q4_K)
	//   halves:  two halves of 16 values, each with its own scale and
	//            correction -32·Σx_half (Q6_K)
	corrShift int
	offsets   bool
	halves    bool
	// kscales: the offset types' compact metadata (tensor.kMetaBytes):
	// int8 scales and offsets per block, float32 d and dmin per half
	// group, multiplied here (Q4_K, Q5_K). Without it, float32 scales and
	// offsets per block (Q4_1, Q5_1).
	kscales bool
	// scales6: Q4_K's compact metadata (tensor.putKMeta): 6-bit scales and
	// offsets, float16 d and dmin (see kScales6).
	scales6 bool
	// level: the kernel set ("vnni" AVX-512, "avx2") that alone has this
	// layout, where tensor.packRows picks it by the level in use (Q4_K);
	// "" for both.
	level string
	// lut: 4-bit indices into the IQ4_NL grid, looked up (vpshufb) as
	// they are unpacked: Q4_0's layout, Q8_0's arithmetic.
	lut bool
}

// kMeta are the byte offsets, in a group's compact metadata, of half
// group h's (h = 0, 1: sixteen-value halves of Q2_K's blocks; Q4_K and
// Q5_K have one) int8 scales and offsets and of the float32 d and dmin of
// the group's first super-block (the second's follow at +4).
func (g packedGeom) kMeta(h int) (sc, m, d, dmin int) {
	switch {
	case g.halves && !g.offsets: // Q6_K: scales only (m, dmin -1)
		return 16 * h, -1, 32, -1
	case !g.offsets: // IQ4_XS
		return 0, -1, 16, -1
	case g.halves:
		return 16 * h, 32 + 16*h, 64, 72
	}
	return 0, 16, 32, 40
}

var (
	geomQ8  = packedGeom{name: "Q8", qbytes: 512, meta: 32}
	geomQ4  = packedGeom{name: "Q4", qbytes: 256, nibbles: true, meta: 32, corrShift: 4}
	geomQ4K = packedGeom{name: "Q4K", qbytes: 256, nibbles: true, meta: 32, corrShift: 7, offsets: true, kscales: true, scales6: true, level: "vnni"}
	// Q6_K (and Q3_K): 6-bit quants as nibble and 2-bit planes, a scale
	// per half block.
	geomQ6K = packedGeom{name: "Q6K", qbytes: 384, lowBits: 4, hiBits: 2, meta: 40, corrShift: 2, halves: true, kscales: true}
	// Q5_K: 5-bit quants as nibble and 1-bit planes, Q4_K's offsets.
	geomQ5K = packedGeom{name: "Q5K", qbytes: 320, lowBits: 4, hiBits: 1, meta: 48, corrShift: 7, offsets: true, kscales: true}
	// Q3_K: 3-bit quants (q+4, 0..7) as 2-bit and 1-bit planes, Q6_K's
	// scales per half block, -4·Σx.
	geomQ3K = packedGeom{name: "Q3K", qbytes: 192, lowBits: 2, hiBits: 1, meta: 40, corrShift: 5, halves: true, kscales: true}
	// Q4_1 and Q5_1: Q4_K's quants and byte quants (0..31) with a float32
	// scale and offset per block.
	geomQ41 = packedGeom{name: "Q41", qbytes: 256, nibbles: true, meta: 128, corrShift: 7, offsets: true}
	geomQ51 = packedGeom{name: "Q51", qbytes: 512, meta: 128, corrShift: 7, offsets: true}
	// Q2_K: 2-bit quants (0..3) in a plane, with a scale and an offset
	// per half of 16 values: Q6_K's halves with Q4_K's compact offsets.
	geomQ2K = packedGeom{name: "Q2K", qbytes: 128, lowBits: 2, meta: 80, corrShift: 7, offsets: true, kscales: true, halves: true}
	// IQ4_XS: IQ4_NL's with an int8 scale per block and float32 d per
	// super-block.
	geomIQ4XS = packedGeom{name: "IQ4XS", qbytes: 256, nibbles: true, lut: true, meta: 24, kscales: true}
	// IQ4_NL: Q4_0's nibbles as indices into its grid (+128 for VNNI,
	// the +128 removed by Q8_0's correction).
	geomIQ4 = packedGeom{name: "IQ4", qbytes: 256, nibbles: true, lut: true, meta: 32}
)

// Q5_0: byte quants (0..31), Q8_0's float16 scales, -16·Σx.
var geomQ50 = packedGeom{name: "Q50", qbytes: 512, meta: 32, corrShift: 3}

// Q4_K with Q5_K's int8 scales and float32 d, where the AVX2 kernels are
// used (tensor.packRows).
var geomQ4K8 = packedGeom{name: "Q4K8", qbytes: 256, nibbles: true, meta: 48, corrShift: 7, offsets: true, kscales: true, level: "avx2"}

// inSet reports whether kernels of g are written for the kernel set level
// ("vnni" or "avx2"): every layout but those of one set alone (Q4_K's).
func (g packedGeom) inSet(level string) bool { return g.level == "" || g.level == level }

// packedGeoms are the packed types in the order of the dispatch tables.
var packedGeoms = []packedGeom{geomQ8, geomQ4, geomQ4K, geomQ6K, geomQ5K, geomQ50, geomQ41, geomQ51, geomQ2K, geomIQ4XS, geomIQ4, geomQ3K, geomQ4K8}

// Activation record per group: 512 int8, 16 f32 d_x, 16 int32 corrections
// -128·Σx, 16 int32 -128·Σ of the first 16 values, 16 f32 d_x·(-Σx).
const (
	recBytes = 768
	recDx    = 512
	recCorr  = 576
	recHalf  = 640
	recCX    = 704 // 16 f32 d_x·(-Σx): the offset types' term, made once per token
)

// kScales6 emits the unpacking of a Q4_K group's metadata (at
// a(0), see tensor.putKMeta) into d·sc (Z0) and dmin·m (Z2), lanes 0-7
// with the first super-block's d and dmin, 8-15 with the second's. It
// takes kScales6Idx's permutes in Z<idx> and Z<idx+1>; Z1 and Z30 are
// temporaries.
//
// Byte j (sc_j and the offset's top two bits) is widened into lane j and
// masked; the offsets' low four bits, a 64-bit word broadcast to every
// lane, are shifted right by 4q in 64-bit lane q, which puts lane 2q's at
// bits 0-3 and lane 2q+1's at bits 32-35 (its own bits 0-3), and joined to
// the top bits by a select. The four float16 d and dmin are widened once
// and spread over the lanes by two permutes. Timed in pkExpandK6AVX512 on
// 64 rows in cache, this takes 1.4-1.5 ns per row and group, as int8
// scales and float32 d took (the layout before); the byte gathers tried
// first (vpshufb) took 1.7 and made the batched tiles 5-10 % slower (they
// compete with vpdpbusd for a port), high bits in words joined by shifts
// by lane 2.5, word permutes (vpermw) more.
func kScales6(b *bytes.Buffer, a func(off int) string, idx int) {
	fmt.Fprintf(b, "\tVPMOVZXBD %s, Z2\n\tVPANDD.BCST pkK6Mask<>(SB), Z2, Z0\n\tVCVTDQ2PS Z0, Z0\n", a(0))
	fmt.Fprintf(b, "\tVPBROADCASTQ %s, Z1\n\tVPSRLVQ pkK6Shift<>(SB), Z1, Z1\n\tVPSRLD $6, Z2, Z2\n\tVPSLLD $4, Z2, Z2\n\tVPTERNLOGD.BCST $0xd8, pkK6Lo<>(SB), Z1, Z2\n\tVCVTDQ2PS Z2, Z2\n", a(16))
	fmt.Fprintf(b, "\tVCVTPH2PS %s, X1\n\tVPERMPS Z1, Z%d, Z30\n\tVMULPS Z30, Z0, Z0\n\tVPERMPS Z1, Z%d, Z30\n\tVMULPS Z30, Z2, Z2\n", a(24), idx, idx+1)
}

// kScales6Idx loads kScales6's permutes (d and dmin of lane j's
// super-block) into Z<idx>, Z<idx+1>.
func kScales6Idx(idx int) string {
	return fmt.Sprintf("\tVMOVDQU64 pkK6Perm<>(SB), Z%d\n\tVMOVDQU64 pkK6DPerm<>(SB), Z%d\n", idx, idx+1)
}

// k6Consts are kScales6's constants.
func k6Consts() string {
	var s bytes.Buffer
	data := func(name string, size int, val func(i int) int, width int) {
		for i := 0; i < size/width; i++ {
			fmt.Fprintf(&s, "DATA %s<>+%d(SB)/%d, $0x%x\n", name, width*i, width, val(i))
		}
		fmt.Fprintf(&s, "GLOBL %s<>(SB), RODATA|NOPTR, $%d\n", name, size)
	}
	data("pkK6Perm", 64, func(j int) int { return j / 8 }, 4)
	data("pkK6DPerm", 64, func(j int) int { return 2 + j/8 }, 4)
	data("pkK6Shift", 64, func(q int) int { return 4 * q }, 8)
	data("pkK6Lo", 4, func(int) int { return 0xf }, 4) // broadcast
	data("pkK6Mask", 4, func(int) int { return 0x3f }, 4)
	return s.String()
}

// kExpandKernel writes pkExpandK6AVX512, which unpacks the compact
// metadata of Q4_K rows into Q4_1's (16 float32 d·sc, then 16 float32
// dmin·m per group) with kScales6's arithmetic: a prompt passes each
// block of 64 rows once per tile of three tokens, and the four-row
// kernels unpacked the scales on every pass (see tensor.Mat.mulIntRows).
// It prefetches the scales of the next block, which the four-row kernels
// no longer fetch: their scales pointer is on the unpacked copy.
func kExpandKernel(b *bytes.Buffer) {
	b.WriteString(`// func pkExpandK6AVX512(meta *byte, stride int, groups int, rows int, out *byte)
// Rows r < rows of groups compact metadata at meta + r·stride, each group
// unpacked to 128 bytes at out + r·stride + 128·g.
TEXT ·pkExpandK6AVX512(SB), NOSPLIT, $0-40
	MOVQ meta+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ rows+24(FP), DX
	MOVQ out+32(FP), DI
` + kScales6Idx(28) + `	MOVQ DX, R11
	IMULQ BX, R11
pkExpandK6row:
	MOVQ groups+16(FP), CX
	MOVQ SI, R9
	MOVQ DI, R10
pkExpandK6group:
	PREFETCHT0 (R9)(R11*1)
`)
	kScales6(b, func(off int) string { return at(off, "(R9)") }, 28)
	b.WriteString(`	VMOVUPS Z0, (R10)
	VMOVUPS Z2, 64(R10)
	ADDQ $32, R9
	ADDQ $128, R10
	DECQ CX
	JNZ pkExpandK6group
	ADDQ BX, SI
	ADDQ BX, DI
	DECQ DX
	JNZ pkExpandK6row
	VZEROUPPER
	RET

`)
}

var scaleAddr = []string{"(R9)", "(R9)(BX*1)", "(R9)(BX*2)", "(R10)"}

func packedKernel(b *bytes.Buffer, g packedGeom, v tileVariant, T int) {
	R := v.rows
	name := v.name(g, T)
	// The kernel's constants are set once per call, before its first row
	// (they were set again for every row: two 512-bit loads and a few
	// broadcasts a row).
	var cs bytes.Buffer
	if g.nibbles {
		cs.WriteString("\tMOVL $0x0f0f0f0f, AX\n\tVPBROADCASTD AX, Z3\n")
	}
	if g.lut {
		cs.WriteString("\tVMOVDQU64 pkIQ4U<>(SB), Z31\n")
	}
	if g.lowBits > 0 {
		// Z3 the low bits' mask, Z31 the high bits' place in a byte.
		fmt.Fprintf(&cs, "\tMOVL $0x%08x, AX\n\tVPBROADCASTD AX, Z3\n", 0x01010101*g.lowMask())
		if g.hiBits > 0 {
			fmt.Fprintf(&cs, "\tMOVL $0x%08x, AX\n\tVPBROADCASTD AX, Z31\n", 0x01010101*g.hiMask())
		}
	}
	// kScales6's permutes: loaded once where one-row tiles leave two
	// registers free (their float accumulators end at Z19), else with
	// each group's scales.
	k6Idx := 28
	if g.scales6 && R == 1 {
		k6Idx = 24
		cs.WriteString(kScales6Idx(k6Idx))
	}
	if g.kscales {
		// K1 selects lanes 8-15: the group's second super-block.
		cs.WriteString("\tMOVL $0xff00, AX\n\tKMOVW AX, K1\n")
	}
	rowLoopPrologue(b, name, pkAccSignature, 88, fmt.Sprintf(`// Packed %s rows w + r·wstride (r < rows, rows a multiple of %d) times
// activation records x + t·xstride (t < %d): out[t·ostride/4 + r]. Per
// (row, token) the arithmetic of packedDot. The rows are taken %d at a
// time; looping here rather than in Go saves a call and a store loop per
// row (decode: ~10%% of the matrix time). Row r's scales are at w +
// r·wstride + scales; mode (accIn, accFinish) lets a row's groups be taken
// in several calls with the same result.
`, g.name, R, T, R), 0, r1Entry(R)+cs.String())
	// Small tiles split each integer accumulator into C chains (summed
	// exactly before conversion), so that one token's vpdpbusd do not wait
	// on each other's latency.
	C := max(1, min(4, 12/(R*T)))
	// hi16: one-row tiles of Q4_0, Q4_1 and Q4_K take a byte's high
	// nibble as it stands (byte &^ 0x0f, 16 times the value) instead of
	// shifting it down: one instruction instead of two per 64 bytes. The
	// high nibbles' products go to their own chains, whose sum is a
	// multiple of 16 and is shifted down exactly once per group. The
	// chains alternate low, high, so C is even.
	hi16 := g.nibbles && !g.lut && R == 1
	if hi16 && C%2 == 1 {
		C--
	}
	chain := func(r, t, c int) int { return 4 + (T*r+t)*C + c }
	iacc := func(r, t int) int { return chain(r, t, 0) }
	facc := func(r, t int) int { return 16 + T*r + t }
	// The float accumulators start at zero or, with accIn, from acc
	// (R12, R14: free until the loop).
	fmt.Fprintf(b, "\tMOVQ mode+72(FP), R14\n\tTESTQ $%d, R14\n\tJZ %szero\n\tMOVQ acc+64(FP), R12\n", accIn, name)
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			fmt.Fprintf(b, "\tVMOVUPS %d(R12), Z%d\n", 64*(T*r+t), facc(r, t))
		}
	}
	fmt.Fprintf(b, "\tJMP %sstarted\n%szero:\n", name, name)
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			fmt.Fprintf(b, "\tVXORPS Z%d, Z%d, Z%d\n", facc(r, t), facc(r, t), facc(r, t))
		}
	}
	fmt.Fprintf(b, "%sstarted:\n", name)
	// Four-row tiles prefetch the same bytes of the next four rows, which
	// this thread reads next: rows of a few KiB are too short for the
	// hardware prefetcher to follow four of them at once (1.1B Q8_0 shape,
	// one thread, N=6: 8.5 GB/s of weights against 28 at N=1). R12, R14
	// follow quants of rows 0 and 3 four rows on, R15 and AX their scales.
	pf := v.prefetch
	pfAddr := []string{"(R12)", "(R12)(BX*1)", "(R12)(BX*2)", "(R14)"}
	pfScale := []string{"(R15)", "(R15)(BX*1)", "(R15)(BX*2)", "(AX)"}
	if pf {
		b.WriteString("\tLEAQ (SI)(BX*4), R12\n\tLEAQ (R13)(BX*4), R14\n\tLEAQ (R9)(BX*4), R15\n\tLEAQ (R10)(BX*4), AX\n")
	}

	// prefetch is emitted beside the load of row r's quants (or scales) at
	// off: four-row tiles fetch the next block's, one-row tiles their own
	// stream r1Prefetch bytes on (see r1Prefetch).
	linear := R == 1 && g.r1Linear()
	prefetch := func(off, r int, scales bool) {
		if pf && scales {
			fmt.Fprintf(b, "\t%s %s\n", streamPrefetch, at(off, pfScale[r]))
		} else if pf {
			fmt.Fprintf(b, "\t%s %s\n", streamPrefetch, at(off, pfAddr[r]))
		}
		switch {
		case linear && !scales:
			fmt.Fprintf(b, "\t%s %d(R13)\n", streamPrefetch, off)
		case linear:
			fmt.Fprintf(b, "\t%s %d(R13)\n", streamPrefetch, g.qbytes+off)
		case R == 1 && !scales:
			fmt.Fprintf(b, "\t%s %d(SI)\n", streamPrefetch, r1Prefetch+off)
		case R == 1:
			fmt.Fprintf(b, "\t%s %d(R9)\n", streamPrefetch, r1Prefetch+off)
		}
	}
	if linear {
		b.WriteString(r1LinearStart) // R13: row 3 of four-row tiles
	}
	// emitGroup writes the code of one group (pc: one-row tiles' plane
	// vectors, nothing loaded yet).
	emitGroup := func() {
		pc := planeCache{low: -1, high: -1}

		// start sets the integer accumulators (half 1 of Q6_K: the rest of Σx).
		start := func(half int) {
			if R > 1 && !g.offsets {
				// Each token's starting values are loaded once into Z28+t (free
				// until the first step) and copied to its R accumulators:
				// loads, not arithmetic, bound these kernels (one 512-bit load
				// a cycle against two vpdpbusd).
				for t := 0; t < T; t++ {
					z := 28 + t
					loadCorr(b, g, half == 0, xAddr[t], z)
					if g.corrShift != 0 {
						fmt.Fprintf(b, "\tVPSRAD $%d, Z%d, Z%d\n", g.corrShift, z, z)
					}
					for r := 0; r < R; r++ {
						fmt.Fprintf(b, "\tVMOVDQA32 Z%d, Z%d\n", z, iacc(r, t))
					}
				}
				return
			}
			for t := 0; t < T; t++ {
				for r := 0; r < R; r++ {
					z := iacc(r, t)
					if g.offsets {
						fmt.Fprintf(b, "\tVPXORD Z%d, Z%d, Z%d\n", z, z, z)
					} else {
						loadCorr(b, g, half == 0, xAddr[t], z)
					}
					if g.corrShift != 0 && !g.offsets {
						fmt.Fprintf(b, "\tVPSRAD $%d, Z%d, Z%d\n", g.corrShift, z, z)
					}
					for c := 1; c < C; c++ {
						fmt.Fprintf(b, "\tVPXORD Z%d, Z%d, Z%d\n", chain(r, t, c), chain(r, t, c), chain(r, t, c))
					}
				}
			}
		}
		// Four-row tiles of the types without offsets finish each row's
		// blocks right after the row's last vpdpbusd instead of in one burst
		// after the group: the 3·R·T float operations of a burst queued behind
		// the integer chains they wait on, while spread between the next
		// row's vpdpbusd they run beside them (1.1B Q8_0 R4T3 on data in L1:
		// ~390 -> ~500 GOPS on one thread). Row r's scales go to Z2, the
		// products d_w·d_x to Z31; d_x stays in memory (Z28.. still hold
		// activations).
		interleave := R > 1 && !g.offsets && C == 1 && g.lowBits == 0 && !g.lut
		flushRow := func(r, metaOff int) {
			for off := 0; off < g.meta; off += 64 {
				prefetch(metaOff+off, r, true)
			}
			if g.halves {
				fmt.Fprintf(b, "\tVMOVUPS %s, Z2\n", at(metaOff, scaleAddr[r]))
			} else {
				fmt.Fprintf(b, "\tVCVTPH2PS %s, Z2\n", scaleAddr[r])
			}
			for t := 0; t < T; t++ {
				fmt.Fprintf(b, "\tVMULPS %s, Z2, Z31\n\tVCVTDQ2PS Z%d, Z%d\n\tVFMADD231PS Z31, Z%d, Z%d\n",
					at(recDx, xAddr[t]), iacc(r, t), iacc(r, t), iacc(r, t), facc(r, t))
			}
		}
		// bytes emits steps [s0, s1) of byte quants (Q8_0 +128, Q6_K 0..63);
		// activations in registers when R > 1. With interleave, the last
		// step finishes each row (scales at metaOff).
		bytesSteps := func(s0, s1, metaOff int) {
			for s := s0; s < s1; s++ {
				xs := make([]string, T)
				for t := 0; t < T; t++ {
					xs[t] = at(64*s, xAddr[t])
					if R > 1 {
						fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n", xs[t], 28+t)
						xs[t] = fmt.Sprintf("Z%d", 28+t)
					}
				}
				for r := 0; r < R; r++ {
					w := r % 2
					if g.lowBits > 0 {
						var c *planeCache
						if R == 1 {
							c = &pc
						}
						planeValues(b, g, s, wAddr[r], w, c)
					} else {
						fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n", at(64*s, wAddr[r]), w)
					}
					if 64*s < g.qbytes {
						prefetch(64*s, r, false)
					}
					for t := 0; t < T; t++ {
						fmt.Fprintf(b, "\tVPDPBUSD %s, Z%d, Z%d\n", xs[t], w, chain(r, t, s%C))
					}
					if interleave && s == s1-1 {
						flushRow(r, metaOff)
					}
				}
			}
		}
		// flush sums the chains, converts and accumulates d_w·d_x-scaled sums;
		// metaOff selects the scales (Q6_K: 0 or 64 for the two halves).
		flush := func(metaOff int) {
			for r := 0; r < R; r++ {
				for t := 0; t < T; t++ {
					if hi16 {
						// The odd chains hold 16 times the high nibbles'
						// products.
						for c := 3; c < C; c += 2 {
							fmt.Fprintf(b, "\tVPADDD Z%d, Z%d, Z%d\n", chain(r, t, c), chain(r, t, 1), chain(r, t, 1))
						}
						fmt.Fprintf(b, "\tVPSRAD $4, Z%d, Z%d\n", chain(r, t, 1), chain(r, t, 1))
					}
					for c := 1; c < C; c++ {
						if hi16 && c%2 == 1 && c > 1 {
							continue
						}
						fmt.Fprintf(b, "\tVPADDD Z%d, Z%d, Z%d\n", chain(r, t, c), iacc(r, t), iacc(r, t))
					}
				}
			}
			if g.offsets && g.halves {
				// -Σx per half (Q2_K: -Σ of the first 16 or the rest), as
				// float, once per token: Z28.. (free now).
				for t := 0; t < T; t++ {
					z := 28 + t
					loadCorr(b, g, metaOff == 0, xAddr[t], z)
					fmt.Fprintf(b, "\tVPSRAD $%d, Z%d, Z%d\n\tVCVTDQ2PS Z%d, Z%d\n", g.corrShift, z, z, z, z)
				}
			}
			// Activation scales once per token (Z28.., free again), except
			// for the offset types, which hold -Σx there.
			dx := func(t int) string { return at(recDx, xAddr[t]) }
			if R > 1 && !g.offsets {
				for t := 0; t < T; t++ {
					fmt.Fprintf(b, "\tVMOVUPS %s, Z%d\n", dx(t), 28+t)
				}
				dx = func(t int) string { return fmt.Sprintf("Z%d", 28+t) }
			}
			if g.scales6 && R > 1 {
				b.WriteString(kScales6Idx(28)) // Z28.. free again
			}
			for r := 0; r < R; r++ {
				for off := 0; off < g.meta; off += 64 {
					prefetch(metaOff+off, r, true)
				}
				switch {
				case g.scales6:
					kScales6(b, func(off int) string { return at(metaOff+off, scaleAddr[r]) }, k6Idx)
				case g.kscales:
					// d·sc into Z0 and dmin·m into Z2, lanes 0-7 with the
					// first super-block's d and dmin, 8-15 with the second's.
					a := func(off int) string { return at(off, scaleAddr[r]) }
					sc, mn, d, dmin := g.kMeta(metaOff / 64)
					fmt.Fprintf(b, "\tVPMOVSXBD %s, Z0\n\tVCVTDQ2PS Z0, Z0\n\tVBROADCASTSS %s, Z1\n\tVBROADCASTSS %s, K1, Z1\n\tVMULPS Z1, Z0, Z0\n", a(sc), a(d), a(d+4))
					if mn >= 0 {
						fmt.Fprintf(b, "\tVPMOVSXBD %s, Z2\n\tVCVTDQ2PS Z2, Z2\n\tVBROADCASTSS %s, Z1\n\tVBROADCASTSS %s, K1, Z1\n\tVMULPS Z1, Z2, Z2\n", a(mn), a(dmin), a(dmin+4))
					}
				case g.offsets:
					fmt.Fprintf(b, "\tVMOVUPS %s, Z0\n\tVMOVUPS %s, Z2\n", scaleAddr[r], at(64, scaleAddr[r]))
				case g.halves:
					fmt.Fprintf(b, "\tVMOVUPS %s, Z0\n", at(metaOff, scaleAddr[r]))
				default:
					fmt.Fprintf(b, "\tVCVTPH2PS %s, Z0\n", scaleAddr[r])
				}
				for t := 0; t < T; t++ {
					if g.offsets && !g.halves {
						// The offset term, then the scale term, each a fused
						// multiply-add into the accumulator (see packedDot):
						// four instructions where joining the terms first took
						// five.
						fmt.Fprintf(b, "\tVMULPS %s, Z0, Z1\n\tVCVTDQ2PS Z%d, Z%d\n\tVFMADD231PS %s, Z2, Z%d\n\tVFMADD231PS Z1, Z%d, Z%d\n",
							dx(t), iacc(r, t), iacc(r, t), at(recCX, xAddr[t]), facc(r, t), iacc(r, t), facc(r, t))
						continue
					}
					if g.offsets {
						// Q2_K's halves: the scale and offset terms are
						// joined first and added to the accumulator once
						// (see packedDot).
						fmt.Fprintf(b, "\tVMULPS %s, Z0, Z1\n\tVCVTDQ2PS Z%d, Z%d\n\tVMULPS Z1, Z%d, Z%d\n", dx(t), iacc(r, t), iacc(r, t), iacc(r, t), iacc(r, t))
						if g.halves {
							fmt.Fprintf(b, "\tVMULPS %s, Z2, Z1\n\tVFMADD231PS Z1, Z%d, Z%d\n", at(recDx, xAddr[t]), 28+t, iacc(r, t))
						} else {
							// dmin·m times the record's d_x·(-Σx).
							fmt.Fprintf(b, "\tVFMADD231PS %s, Z2, Z%d\n", at(recCX, xAddr[t]), iacc(r, t))
						}
						fmt.Fprintf(b, "\tVADDPS Z%d, Z%d, Z%d\n", iacc(r, t), facc(r, t), facc(r, t))
						continue
					}
					fmt.Fprintf(b, "\tVMULPS %s, Z0, Z1\n\tVCVTDQ2PS Z%d, Z%d\n\tVFMADD231PS Z1, Z%d, Z%d\n",
						dx(t), iacc(r, t), iacc(r, t), iacc(r, t), facc(r, t))
				}
			}
		}

		switch {
		case g.halves:
			start(0)
			bytesSteps(0, 4, 0)
			if !interleave {
				flush(0)
			}
			start(1)
			bytesSteps(4, 8, 64)
			if !interleave {
				flush(64)
			}
		case !g.nibbles:
			start(0)
			bytesSteps(0, 8, 0)
			if !interleave {
				flush(0)
			}
		default:
			start(0)
			// 4 loads of 64 bytes, each two steps (low, high nibbles).
			for p := 0; p < 4; p++ {
				if R > 1 {
					// Each token's activations once per half into Z28..
					// for all four rows, the rows' bytes loaded twice (from
					// L1): 56 loads per group instead of 112 (Q4_0 batches
					// are load-bound like Q8_0's).
					for half := 0; half < 2; half++ {
						for t := 0; t < T; t++ {
							fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n", at(128*p+64*half, xAddr[t]), 28+t)
						}
						for r := 0; r < R; r++ {
							// The loads folded into the mask and the shift:
							// 32 instructions fewer a group (four rows by
							// three tokens of Q4_K in L1: 2 % faster).
							if half == 0 {
								fmt.Fprintf(b, "\tVPANDD %s, Z3, Z1\n", at(64*p, wAddr[r]))
								prefetch(64*p, r, false)
							} else {
								fmt.Fprintf(b, "\tVPSRLW $4, %s, Z0\n\tVPANDD Z3, Z0, Z1\n", at(64*p, wAddr[r]))
							}
							if g.lut {
								b.WriteString("\tVPSHUFB Z1, Z31, Z1\n")
							}
							for t := 0; t < T; t++ {
								fmt.Fprintf(b, "\tVPDPBUSD Z%d, Z1, Z%d\n", 28+t, chain(r, t, (2*p+half)%C))
							}
							if interleave && p == 3 && half == 1 {
								flushRow(r, 0)
							}
						}
					}
					continue
				}
				for r := 0; r < R; r++ {
					raw, lo := r%2, 28+r%2
					if hi16 {
						fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n\tVPANDD Z3, Z%d, Z%d\n\tVPANDND Z%d, Z3, Z%d\n",
							at(64*p, wAddr[r]), raw, raw, lo, raw, raw)
					} else {
						fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n\tVPANDD Z3, Z%d, Z%d\n\tVPSRLW $4, Z%d, Z%d\n\tVPANDD Z3, Z%d, Z%d\n",
							at(64*p, wAddr[r]), raw, raw, lo, raw, raw, raw, raw)
					}
					if g.lut {
						fmt.Fprintf(b, "\tVPSHUFB Z%d, Z31, Z%d\n\tVPSHUFB Z%d, Z31, Z%d\n", lo, lo, raw, raw)
					}
					prefetch(64*p, r, false)
					for t := 0; t < T; t++ {
						fmt.Fprintf(b, "\tVPDPBUSD %s, Z%d, Z%d\n\tVPDPBUSD %s, Z%d, Z%d\n",
							at(128*p, xAddr[t]), lo, chain(r, t, (2*p)%C), at(128*p+64, xAddr[t]), raw, chain(r, t, (2*p+1)%C))
					}
				}
			}
			if !interleave {
				flush(0)
			}
		}
		if pf {
			fmt.Fprintf(b, "\tADDQ $%d, R12\n\tADDQ $%d, R14\n\tADDQ $%d, R15\n\tADDQ $%d, AX\n", g.qbytes, g.qbytes, g.meta, g.meta)
		}
		// The pointers move on by a group; those of row 3 (R13, R10) and
		// token 3 (R11) only where the tile has them (R13 is one-row tiles'
		// prefetch pointer, moved on by a group's quants and scales).
		fmt.Fprintf(b, "\tADDQ $%d, SI\n\tADDQ $%d, DI\n\tADDQ $%d, R9\n", g.qbytes, recBytes, g.meta)
		switch {
		case R == 4:
			fmt.Fprintf(b, "\tADDQ $%d, R13\n\tADDQ $%d, R10\n", g.qbytes, g.meta)
		case linear:
			fmt.Fprintf(b, "\tADDQ $%d, R13\n", g.qbytes+g.meta)
		}
		if T == 4 {
			fmt.Fprintf(b, "\tADDQ $%d, R11\n", recBytes)
		}
	}
	groupLoop(b, name, groupUnroll(R, g), emitGroup)
	// Without accFinish the lanes go back to acc, which moves on by the
	// block's R·T vectors either way.
	fmt.Fprintf(b, "\tMOVQ acc+64(FP), R12\n\tLEAQ %d(R12), R14\n\tMOVQ R14, acc+64(FP)\n\tMOVQ mode+72(FP), R14\n\tTESTQ $%d, R14\n\tJNZ %sfinish\n", 64*R*T, accFinish, name)
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			fmt.Fprintf(b, "\tVMOVUPS Z%d, %d(R12)\n", facc(r, t), 64*(T*r+t))
		}
	}
	fmt.Fprintf(b, "\tJMP %snext\n%sfinish:\n", name, name)
	// Store row r, token t at out + t·ostride + 4r; then on to the next
	// rows.
	b.WriteString("\tMOVQ ostride+56(FP), AX\n\tLEAQ (R8)(AX*2), R12\n")
	outAddr := []string{"(R8)", "(R8)(AX*1)", "(R8)(AX*2)", "(R12)(AX*1)"}
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			i := facc(r, t)
			fmt.Fprintf(b, "\tREDUCE16E(Z%d, Y%d, X%d, Y2, X2)\n\tVMOVSS X%d, %s\n", i, i, i, i, at(4*r, outAddr[t]))
		}
	}
	fmt.Fprintf(b, "%snext:\n", name)
	rowLoopEpilogue(b, name, R)
}

// pkSignature is the parameter list of the AVX2 packed kernels
// (tensor.pkFunc), pkAccSignature that of the AVX-512 ones
// (tensor.pkAccFunc), which can also carry their 16-lane accumulators
// from one call to the next (see packedKernel).
const (
	pkSignature    = "(w *byte, wstride int, x *byte, xstride int, groups int, out *float32, rows int, ostride int)"
	pkAccSignature = "(w *byte, wstride int, x *byte, xstride int, groups int, out *float32, rows int, ostride int, acc *float32, mode int, scales int)"
)

// Modes of the AVX-512 packed kernels: accIn starts the float
// accumulators from acc instead of zero; accFinish reduces them and writes
// out, else their lanes are stored back to acc: 16 floats for each row
// and token, row by row (T per row), the same layout for one- and
// four-row kernels.
const (
	accIn     = 1
	accFinish = 2
)

// rowLoopPrologue starts a packed kernel that loops over blocks of rows
// (label <name>block): SI, R13 rows 0 and 3 of the block, R9, R10 their
// scales, DI, R11 tokens 0 and 3, CX the group count, BX and DX the
// strides, R8 the output. The scales follow the groups · qbytes bytes of
// quants (qbytes > 0), or are at the offset in argument scales (qbytes 0:
// a call may take a row's groups from the middle).
//
// entry is code run once per call, before the first row.
func rowLoopPrologue(b *bytes.Buffer, name, sig string, frame int, doc string, qbytes int, entry string) {
	fmt.Fprintf(b, `// func %s%s
%sTEXT ·%s(SB), NOSPLIT, $0-%d
	MOVQ wstride+8(FP), BX
	MOVQ xstride+24(FP), DX
	MOVQ out+40(FP), R8
%s%sblock:
	MOVQ w+0(FP), SI
	MOVQ x+16(FP), DI
	MOVQ groups+32(FP), CX
	LEAQ (SI)(BX*2), R13
	ADDQ BX, R13
	LEAQ (DI)(DX*2), R11
	ADDQ DX, R11
`, name, sig, doc, name, frame, entry, name)
	if qbytes > 0 {
		fmt.Fprintf(b, "\tMOVQ CX, AX\n\tIMULQ $%d, AX\n", qbytes)
	} else {
		b.WriteString("\tMOVQ scales+80(FP), AX\n")
	}
	b.WriteString("\tLEAQ (SI)(AX*1), R9\n\tLEAQ (R13)(AX*1), R10\n")
}

// rowLoopEpilogue moves the output and the rows on by R rows and loops
// while rows remain.
func rowLoopEpilogue(b *bytes.Buffer, name string, R int) {
	next := "\tADDQ BX, SI\n"
	if R == 4 {
		next = "\tLEAQ (SI)(BX*4), SI\n"
	}
	fmt.Fprintf(b, "\tADDQ $%d, R8\n\tMOVQ w+0(FP), SI\n%s\tMOVQ SI, w+0(FP)\n\tMOVQ rows+48(FP), CX\n\tSUBQ $%d, CX\n\tMOVQ CX, rows+48(FP)\n\tJG %sblock\n",
		4*R, next, R, name)
	b.WriteString("\tVZEROUPPER\n\tRET\n\n")
}

// lowMask and hiMask are where a plane type's low and high bits sit in
// its value bytes: 0x0f or 0x03; 0x10 (Q5_K), 0x30 (Q6_K) or 0x04 (Q3_K).
func (g packedGeom) lowMask() uint32 { return 1<<g.lowBits - 1 }
func (g packedGeom) hiMask() uint32  { return (1<<g.hiBits - 1) << g.lowBits }

// planeLow is the offset of the 64-byte vector of step s's low bits and
// how far right they are shifted: nibbles keep even steps low and odd
// steps high; a 2-bit plane keeps steps 4u+k in bits 2k, 2k+1 of vector u.
func (g packedGeom) planeLow(s int) (off, shift int) {
	if g.lowBits == 4 {
		return 64 * (s / 2), 4 * (s % 2)
	}
	return 64 * (s / 4), 2 * (s % 4)
}

// planeHigh is the offset of the vector of step s's high bits and how far
// left (negative: right) they are shifted to land in place (hiMask): a
// 1-bit plane keeps step s in bit s, a 2-bit plane steps 4u+k in bits 2k,
// 2k+1 of vector u. Shifting whole 16-bit words moves bits across the
// bytes of a word only outside the masks, which clear them.
func (g packedGeom) planeHigh(s int) (off, shift int) {
	base := 64 * g.lowBits
	if g.hiBits == 1 {
		return base, g.lowBits - s
	}
	return base + 64*(s/4), g.lowBits - 2*(s%4)
}

// planeCache is which plane vectors a one-row tile holds in registers:
// the low bits' at offset low in Z20, the high bits' at high in Z21 (-1:
// none yet).
type planeCache struct{ low, high int }

// planeValues builds step s's value bytes of a plane type in Z<dst> from
// the row at w: its low bits (Z3: lowMask) or'd with its high bits (Z31:
// hiMask; Z2 is clobbered). 0xf8 is the truth table of dst | (Z2 & Z31).
//
// A vector of a plane serves two steps (nibbles) or four (2-bit and 1-bit
// planes). Four-row tiles read it again at each step as a memory operand
// (they have no registers to spare); one-row tiles (c non-nil) load each
// vector once into Z20 or Z21 and derive every step's values from the
// register: their loads, not their arithmetic, bound them (one 512-bit
// load a cycle), and a Q6_K group then loads 6 plane vectors instead of 16.
func planeValues(b *bytes.Buffer, g packedGeom, s int, w string, dst int, c *planeCache) {
	// src is the plane vector at off: a register if c holds (or now loads)
	// it, else the memory operand.
	src := func(off int, held *int, reg string) string {
		if c == nil {
			return at(off, w)
		}
		if *held != off {
			fmt.Fprintf(b, "\tVMOVDQU32 %s, %s\n", at(off, w), reg)
			*held = off
		}
		return reg
	}
	var lowHeld, highHeld *int
	if c != nil {
		lowHeld, highHeld = &c.low, &c.high
	}
	off, shift := g.planeLow(s)
	lo := src(off, lowHeld, "Z20")
	if shift > 0 {
		fmt.Fprintf(b, "\tVPSRLW $%d, %s, Z%d\n\tVPANDD Z3, Z%d, Z%d\n", shift, lo, dst, dst, dst)
	} else {
		fmt.Fprintf(b, "\tVPANDD %s, Z3, Z%d\n", lo, dst)
	}
	if g.hiBits == 0 {
		return
	}
	off, shift = g.planeHigh(s)
	hi := src(off, highHeld, "Z21")
	switch {
	case shift > 0:
		fmt.Fprintf(b, "\tVPSLLW $%d, %s, Z2\n", shift, hi)
	case shift < 0:
		fmt.Fprintf(b, "\tVPSRLW $%d, %s, Z2\n", -shift, hi)
	default: // 0xf8 is symmetric in its two sources: dst | (hi & Z31)
		fmt.Fprintf(b, "\tVPTERNLOGD $0xf8, %s, Z31, Z%d\n", hi, dst)
		return
	}
	fmt.Fprintf(b, "\tVPTERNLOGD $0xf8, Z31, Z2, Z%d\n", dst)
}

// loadCorr loads into Z<z> the record's correction terms at x: -128·Σx
// per block, or for the types with halves (Q6_K, Q2_K) that of the first
// 16 values (first) or of the rest.
func loadCorr(b *bytes.Buffer, g packedGeom, first bool, x string, z int) {
	switch {
	case g.halves && first:
		fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n", at(recHalf, x), z)
	case g.halves:
		fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n\tVPSUBD %s, Z%d, Z%d\n", at(recCorr, x), z, at(recHalf, x), z, z)
	default:
		fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n", at(recCorr, x), z)
	}
}

// groupUnroll is how many groups a row may have for one-row tiles of g to
// take it without a loop (see groupLoop), at most: 1 for none.
//
// A row of four groups (2048 columns of the 4-bit and plane types) in a
// loop that ran four times and left streamed its rows more slowly from
// memory than the same bytes taken as rows of eight groups: one thread,
// one-row Q4_K kernel, alternated with a read probe, 0.88 of it against
// 1.03 (the same rows passed to the kernel two at a time). With the groups
// unrolled, the matrix products of a 1.1B decoding step, alternated in one
// process with the loop (probe 62-78 GB/s): Q4_K 0.80-0.92 of the probe
// against 0.76-0.86, Q5_K 0.87 against 0.75, Q6_K 0.91-0.93 against 0.80,
// most where rows have 2048 columns. Not the byte types (Q8_0: 0.79 against
// 0.88 at four groups), whose loops prefetch with two pointers.
func groupUnroll(R int, g packedGeom) int {
	if R == 1 && g.r1Linear() {
		return 6
	}
	return 1
}

// unrolledCode bounds the instructions of a row's unrolled copies (see
// groupLoop). Copies of up to 340 instructions streamed well, of 385 and
// more worse than the loop: Q4_K's group is 55 instructions, and rows of
// six groups (3072 columns, a Llama-3.2-3B shape) unrolled read 0.94-0.97
// of the probe in its products against 0.79-0.84 looped (one thread, 2560
// columns: 0.97 against 0.79), rows of seven (3584 columns) 0.69-0.72
// against 0.98-1.04, of eight (a Llama-3-8B shape's 4096) 0.65-0.69
// against 0.92; Q5_K's group is 71 and Q6_K's 85, and the 3B shape's rows
// of six groups read 0.72 against 0.81 (Q5_K) and 0.76 against 0.95
// (Q6_K) unrolled, while four groups paid for both (above). Why straight
// code of this length streams worse on this core (AMD Zen 5) is not known:
// these virtual machines expose no hardware counters.
const unrolledCode = 350

// groupLoop writes the loop over a row's CX groups, each group's code
// written by group(). Rows of at most U groups run through U copies of it
// instead (U up to maxU, and U copies at most unrolledCode instructions),
// entered where CX of them are left (a jump that is the same for every row
// of a call), with no branch back.
func groupLoop(b *bytes.Buffer, name string, maxU int, group func()) {
	U := 1
	if maxU > 1 {
		// One copy written to count its instructions, then taken back.
		mark := b.Len()
		group()
		n := 0
		for _, l := range strings.Split(string(b.Bytes()[mark:]), "\n") {
			if strings.HasPrefix(l, "\t") && !strings.HasPrefix(strings.TrimSpace(l), "//") {
				n++
			}
		}
		b.Truncate(mark)
		U = min(maxU, unrolledCode/max(n, 1))
	}
	if U > 1 {
		fmt.Fprintf(b, "\tCMPQ CX, $%d\n\tJGT %sloop\n", U, name)
		for n := 1; n < U; n++ {
			fmt.Fprintf(b, "\tCMPQ CX, $%d\n\tJEQ %sg%d\n", n, name, U-n)
		}
		for u := 0; u < U; u++ {
			if u > 0 {
				fmt.Fprintf(b, "%sg%d:\n", name, u)
			}
			group()
		}
		fmt.Fprintf(b, "\tJMP %sgroupsdone\n", name)
	}
	fmt.Fprintf(b, "%sloop:\n", name)
	group()
	fmt.Fprintf(b, "\tDECQ CX\n\tJNZ %sloop\n", name)
	if U > 1 {
		fmt.Fprintf(b, "%sgroupsdone:\n", name)
	}
}

// tileVariant is one row of the dispatch table: one row goes up to
// packedMaxT tokens (its activations stay in memory operands), four rows to
// packedMaxT4 (register budget: 12 integer, 12 float accumulators, 4
// activation registers). Four-row tiles come twice: the first token tile
// of a block of rows reads them from memory and prefetches the next four;
// the block's other tiles find the rows in cache, and prefetching again
// would only cost issue slots (256-token prompts 5 % slower).
type tileVariant struct {
	rows     int
	prefetch bool
}

// r1Prefetch is how far ahead (bytes) one-row kernels prefetch: a thread's
// rows are one contiguous stream, which the hardware prefetcher alone
// kept too short (1.1B Q8_0, alternated runs: t(1) 30.2-33.1 -> 28.5-30.6
// ms, t(4) 47-55 -> 40-48 ms).
//
// One-row tiles of the 4-bit and plane types (Q4_0, Q4_1, the K-quants,
// IQ4_NL, IQ4_XS) sweep that stream with one pointer, moved on by each
// group's quants and scales together (qbytes + meta), so that a row's
// bytes are prefetched once each, in address order, although the row is
// read from two places (its quants, and its scales after them). Prefetching each place 4 KiB ahead
// instead left part of a row's quants unfetched wherever the row is wider
// than the distance (those bytes were skipped when the quant pointer
// jumped over the row's scales) and sent the prefetches out of order: 600
// MB of Q4_K rows of 5632 columns (a FFN down matrix) streamed at
// 0.66-0.86 of a read probe alternated with them, against 0.80-0.95 with
// one pointer (alternated in one process; rows of 2048 columns alike
// either way). Whole decoding steps of 1.1B models, alternated four steps
// at a time in one process, each beside a read of memory: Q4_K 0.60-0.67
// of the read bandwidth against 0.59-0.66 (three runs), Q5_K 0.66 against
// 0.63, Q6_K 0.71 against 0.69; but Q8_0 0.72-0.84 against 0.75-0.85, so
// the byte types (Q8_0, Q5_0, Q5_1) keep two pointers.
const r1Prefetch = 4096

// streamPrefetch is the software prefetch of every weight kernel (packed
// one-row, pair and four-row tiles, float tiles): PREFETCHNTA, so that
// the lines a pass streams through once are the first a cache evicts and
// the rest of it keeps what it held. A cache that replaces its least
// recently used lines keeps nothing of a working set larger than itself
// read in a cycle, as the weights are, step after step.
//
// On the AMD EPYC (Zen 5) VMs of 2026-12-04 (whose caches kept 150-250 MB
// of one buffer read again and again) the 1.1B Q4_K twin (0.51 GiB)
// decoded 15-18 % faster (bench engine, builds alternated: 131 against
// 111-114 tok/s, one token a pass at 102-105 % of the read probe's rate
// against 83-90 %), Q4_0 9 %, Q5_K 1-5 %, the F16 twin (1.8 GiB) 1-4 %,
// the 3B Q4_K shape (1.48 GiB) 1-2.5 %, Q6_K and Q8_0 (0.74 and 0.96 GiB)
// within the noise; batches of 8 and 32 and prompts as fast as before;
// S^4C on the Q4_K twin 172-173 tok/s against 137-150 (bench spec, 8
// story prompts). One 1 GiB matrix read pass after pass streamed as fast
// either way, as did a plain read: the gain is the part of the weights
// that stays cached from one pass to the next, largest where the model is
// smallest. Measured at the kernels' distances (4 KiB ahead one token at
// a time, the next block of rows in tiles); the AVX2 kernels
// (S4C_KERNEL=avx2, arithmetic-bound here) were as fast; a chosen part of
// a model kept on PREFETCHT0 was no faster (see the README).
const streamPrefetch = "PREFETCHNTA"

// r1Linear reports whether one-row tiles of g sweep their rows with one
// prefetch pointer (the 4-bit and plane types; see r1Prefetch).
func (g packedGeom) r1Linear() bool { return g.qbytes < 512 }

// r1LinearStart starts a row's linear prefetch pointer, R13, r1Prefetch
// bytes ahead of its quants; it moves on by a group's quants and scales.
// That does not cover the padding that rounds a row's scales up to 64
// bytes, so the line before its start is fetched here: rows that end in
// less than a line of padding (Q4_K, Q5_K, IQ4_XS at 3072, 5632 or 11008
// columns) left a line of every row to a demand miss. 1.1B Q4_K, both
// kernels alternated in one process: the FFN down matrix (5632 columns)
// streams at 0.92-0.93 of the read probe against 0.83-0.86, a decoding
// step at 0.85-0.88 against 0.83-0.85.
var r1LinearStart = fmt.Sprintf("\tLEAQ %d(SI), R13\n\t%s -64(R13)\n", r1Prefetch, streamPrefetch)

// r1Entry is what one-row tiles do once per call before their first row:
// prefetch the first r1Prefetch bytes of their range, which the running
// prefetch (r1Prefetch on) never covers. A call starts a new stream (each
// thread's share of a product, and each chunk dealt out after it), and a
// 1.1B decoding step makes about 90 products: its matrix products alone
// took 1.12-1.32 times as long as one matrix of the same bytes. With the
// burst, alternated in one process: the 88 products of a 1.1B Q4_K step
// 9.8-10.3 ms against 10.0-10.4 (three runs); whole decoding steps (two at
// a time, 400 steps) 13.58 / 17.60 / 13.62 ms against 13.91 / 17.90 /
// 13.91 (Q4_K), 19.00 / 19.26 against 19.27 / 19.51 (Q8_0), 23.91 / 23.89
// against 24.18 / 23.99 (Q6_K).
func r1Entry(R int) string {
	if R != 1 {
		return ""
	}
	e := "\tMOVQ w+0(FP), SI\n"
	for off := 0; off < r1Prefetch; off += 64 {
		e += fmt.Sprintf("\t%s %d(SI)\n", streamPrefetch, off)
	}
	return e
}

var tileVariants = []tileVariant{{1, false}, {4, true}, {4, false}}

func (v tileVariant) name(g packedGeom, T int) string {
	np := ""
	if v.rows == 4 && !v.prefetch {
		np = "np"
	}
	return fmt.Sprintf("pk%sr%dt%d%sAVX512", g.name, v.rows, T, np)
}

const (
	packedMaxT  = 4
	packedMaxT4 = 3
)

// packedKernels returns the assembly and the Go declarations with the
// dispatch table pkKernels[type][rows index][T-1].
func packedKernels() (asm, decl []byte) {
	var s, d bytes.Buffer
	s.WriteString(header)
	d.WriteString(goHeader)
	table := "// pkKernels[type][tile][T-1]: type 0 = Q8_0, 1 = Q4_0, 2 = Q4_K, 3 = Q6_K,\n" +
		"// 4 = Q5_K, 5 = Q5_0, 6 = Q4_1, 7 = Q5_1, 8 = Q2_K, 9 = IQ4_XS, 10 = IQ4_NL, 11 = Q3_K, 12 = Q4_K with int8 scales (AVX2 only; here nil); tile 0 = one row, 1 = four rows prefetching the next four, 2 = four rows.\n" +
		"var pkKernels = [" + fmt.Sprint(len(packedGeoms)) + "][" + fmt.Sprint(len(tileVariants)) + "][" + fmt.Sprint(packedMaxT) + "]pkAccFunc{\n"
	for _, g := range packedGeoms {
		table += "\t{\n"
		for _, v := range tileVariants {
			table += "\t\t{"
			for T := 1; T <= packedMaxT; T++ {
				if T > 1 {
					table += ", "
				}
				// Four-row tiles serve batches of two tokens and more
				// (tensor.rowByRow), split evenly into tiles of 2-3.
				if v.rows == 4 && (T == 1 || T > packedMaxT4) || !g.inSet("vnni") {
					table += "nil"
					continue
				}
				packedKernel(&s, g, v, T)
				name := v.name(g, T)
				fmt.Fprintf(&d, "//go:noescape\nfunc %s%s\n\n", name, pkAccSignature)
				table += name
			}
			table += "},\n"
		}
		table += "\t},\n"
	}
	d.WriteString(table + "}\n\n")
	table = "// pkPairKernels[type]: rows r and r + rows/2 at once, one token, rows of\n// up to pairGroups[type] groups (see internal/asmgen/pair.go); types as\n// pkKernels.\n" +
		"var pkPairKernels = [" + fmt.Sprint(len(packedGeoms)) + "]pkAccFunc{"
	groups := "var pairGroups = [" + fmt.Sprint(len(packedGeoms)) + "]int{"
	for i, g := range packedGeoms {
		if i > 0 {
			table += ", "
			groups += ", "
		}
		if !g.inSet("vnni") || !g.paired() {
			table += "nil"
			groups += "0"
			continue
		}
		U := pairKernel(&s, g)
		name := pairName(g)
		fmt.Fprintf(&d, "//go:noescape\nfunc %s%s\n\n", name, pkAccSignature)
		table += name
		groups += fmt.Sprint(U)
	}
	d.WriteString(table + "}\n\n" + groups + "}\n\n")
	fmt.Fprintf(&d, "// Modes of a pkAccFunc call: accIn starts from acc's lanes; accFinish\n// reduces the lanes and writes out, else they go back to acc.\nconst (\n\taccIn     = %d\n\taccFinish = %d\n)\n\n", accIn, accFinish)
	s.WriteString(avx2Consts)
	s.WriteString(k6Consts())
	kExpandKernel(&s)
	d.WriteString("//go:noescape\nfunc pkExpandK6AVX512(meta *byte, stride int, groups int, rows int, out *byte)\n\n")
	table = "// pkKernelsAVX2[type][T-1]: one row at a time, types as pkKernels (Q4_K as type 12,\n// with int8 scales; type 2 nil).\n" +
		"var pkKernelsAVX2 = [" + fmt.Sprint(len(packedGeoms)) + "][" + fmt.Sprint(packedMaxT) + "]pkFunc{\n"
	for _, g := range packedGeoms {
		table += "\t{"
		for T := 1; T <= packedMaxT; T++ {
			if T > 1 {
				table += ", "
			}
			if !g.inSet("avx2") {
				table += "nil"
				continue
			}
			avx2Kernel(&s, g, T)
			name := avx2Name(g, T)
			fmt.Fprintf(&d, "//go:noescape\nfunc %s%s\n\n", name, pkSignature)
			table += name
		}
		table += "},\n"
	}
	d.WriteString(table + "}\n")
	return s.Bytes(), d.Bytes()
}
