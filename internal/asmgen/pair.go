package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Pair kernels (pk<type>p2t1AVX512) take one token through rows r and
// r + half at once, for r < rows/2 and half = rows/2: two streams of
// weights, far apart, in one instruction stream. A one-row kernel reads a
// thread's rows as one stream; on rows of about 1 KB (2048 columns of the
// 4- to 6-bit types, seven tenths of a 1.1B model's bytes) that stream ran
// a quarter slower than on rows of 3 KB and more, a fixed 14-26 ns a row
// that no change inside the one-row kernel moved (its reduction and store,
// the scales' place, the prefetch distance, alignment, a loop instead of
// straight code). Two streams far apart close most of it, where a pair of
// neighbouring rows (one stream, two rows at a time) did not, and neither
// did the same pair code as a loop over groups instead of straight code
// (Q4_K, 2048 columns, alternated in one process, one thread: 33.1-34.6
// GB/s against 28.5-30.1 one row at a time at a busy hour, 35.6-39.0
// against 33.3-36.6 at a quieter one; looped 26.7-27.0 against 28.3-28.5).
//
// The code is the one-row one-token kernel's group, written twice per
// group: as it is for row r, then with its float accumulator moved to Z17
// and its weight addresses offset by BX = half·wstride for row r + half
// (secondRow); the pointer moves once after both. So each row's
// arithmetic is exactly the one-row kernel's, and so is its result. Rows
// of up to U groups run through U straight copies, entered where CX of
// them are left; wider rows keep the one-row kernels, which stream well
// there. U is at most 6 and the copies at most pairCode instructions:
// straight code longer than that streamed worse, as the one-row kernels'
// did past unrolledCode (Q5_K and Q6_K rows of 3072 columns, six copies
// of 138 and 166 instructions: 75 and 79-81 GB/s against 78-85 and 89-91
// one row at a time; Q4_K's six of 106, 84-91 against 84-86).
const pairCode = 700

// paired reports whether g gets a pair kernel: every layout but Q6_K's,
// whose decoding steps were slower with pairs. The 1.1B shape in one
// process, plain steps alternated four at a time with pairs and one row at
// a time (medians of 120 steps, runs at different moments): Q6_K 12.9-13.5
// ms against 12.5-13.4; with them Q4_K 9.8-10.6 against 11.0-11.5, Q5_K
// 10.3-11.3 against 10.4-12.1, Q8_0 18.0-18.5 against 19.9-20.7, Q3_K
// 7.6-8.3 against 7.8-9.4, Q4_0 9.9-10.1 against 10.8-11.0, IQ4_NL 9.6-9.8
// against 10.5, Q2_K 7.7-7.95 against 7.5-8.3 (at most 2.1 % apart in
// seven runs of eight, 5 % shorter in the eighth; `bench engine`, builds
// alternated, 121-123 tok/s against 111-113).
func (g packedGeom) paired() bool { return g.name != "Q6K" }

var (
	vecReg  = regexp.MustCompile(`\b([XYZK])(\d+)\b`)
	rowAddr = regexp.MustCompile(`\((SI|R9|R13)\)`)
)

// secondRow rewrites one line of a one-row group for row r + half: its
// float accumulator Z16 becomes Z17 and its weight addresses (SI: quants,
// R9: scales, R13: prefetch pointer) move on by BX. Every other register
// is shared with row r: each group's code writes its temporaries before
// reading them (checkGroupTemps), so row r + half's copy, written after
// row r's, finds nothing of row r's in them, and the core's register
// renaming lets the two copies run side by side: as fast as giving row
// r + half registers of its own (1.1B decoding steps, both kernels and one
// row at a time alternated in one process, four runs: Q4_K 10.17-10.63 ms
// against 10.22-10.42, Q3_K, Q2_K and Q5_K within 1 %), with one table of
// registers fewer to keep right.
func secondRow(l string) string {
	l = vecReg.ReplaceAllStringFunc(l, func(s string) string {
		if s[0] != 'K' && s[1:] == "16" {
			return s[:1] + "17"
		}
		return s
	})
	if strings.Contains(l, ")(") {
		panic(fmt.Sprintf("asmgen: pair kernel: indexed address in %q", l))
	}
	return rowAddr.ReplaceAllString(l, "($1)(BX*1)")
}

// checkGroupTemps panics unless every vector or mask register the group
// code reads was written earlier in the group, or is the float
// accumulator Z16, or one of the per-call constants (set by consts), and
// unless Z17 is free for the second row. A destination (the last operand)
// is read too by accumulating instructions and by merge-masked ones.
func checkGroupTemps(name string, work, consts []string) {
	reg := func(op string) string {
		if m := vecReg.FindStringSubmatch(strings.TrimSpace(op)); m != nil && m[0] == strings.TrimSpace(op) {
			if m[1] == "K" {
				return m[0]
			}
			return "Z" + m[2] // X, Y and Z n are one register
		}
		return ""
	}
	known := map[string]bool{"Z16": true}
	for _, l := range consts {
		f := strings.SplitN(strings.TrimSpace(l), " ", 2)
		if len(f) == 2 {
			ops := strings.Split(f[1], ", ")
			if r := reg(ops[len(ops)-1]); r != "" {
				known[r] = true
			}
		}
	}
	for _, l := range work {
		for _, m := range vecReg.FindAllStringSubmatch(l, -1) {
			if m[1] != "K" && m[2] == "17" {
				panic(fmt.Sprintf("asmgen: pair kernel: %s uses Z17 in %q", name, l))
			}
		}
		f := strings.SplitN(strings.TrimSpace(l), " ", 2)
		if len(f) < 2 || strings.HasPrefix(f[0], "PREFETCH") {
			continue
		}
		ops := strings.Split(f[1], ", ")
		dst := reg(ops[len(ops)-1])
		var reads []string
		same := true
		for _, op := range ops[:len(ops)-1] {
			if r := reg(op); r != "" {
				reads = append(reads, r)
				same = same && r == dst
			}
		}
		accumulates := f[0] == "VPDPBUSD" || strings.HasPrefix(f[0], "VFMADD") || strings.HasPrefix(f[0], "VPTERNLOG")
		merged := len(ops) >= 2 && strings.HasPrefix(strings.TrimSpace(ops[len(ops)-2]), "K")
		if (f[0] == "VPXORD" || f[0] == "VXORPS") && same { // zeroing: reads nothing
			reads = nil
		} else if dst != "" && (accumulates || merged) {
			reads = append(reads, dst)
		}
		for _, r := range reads {
			if !known[r] {
				panic(fmt.Sprintf("asmgen: pair kernel: %s reads %s before the group writes it, in %q", name, r, l))
			}
		}
		if dst != "" {
			known[dst] = true
		}
	}
}

// pairName is the name of g's pair kernel.
func pairName(g packedGeom) string { return fmt.Sprintf("pk%sp2t1AVX512", g.name) }

// pairKernel writes g's pair kernel from its one-row one-token kernel and
// returns its U, the most groups of a row it takes.
func pairKernel(b *bytes.Buffer, g packedGeom) int {
	var one bytes.Buffer
	packedKernel(&one, g, tileVariants[0], 1)
	r1 := tileVariants[0].name(g, 1)
	src := one.String()
	// The group is the body of the one-row kernel's loop over groups.
	i := strings.Index(src, r1+"loop:\n")
	j := strings.Index(src, "\tDECQ CX\n\tJNZ "+r1+"loop\n")
	if i < 0 || j < i {
		panic("asmgen: pair kernel: no group loop in " + r1)
	}
	var work, moves []string
	for _, l := range strings.Split(strings.TrimSuffix(src[i+len(r1+"loop:\n"):j], "\n"), "\n") {
		if strings.HasPrefix(l, "\tADDQ $") {
			moves = append(moves, l)
			continue
		}
		if moves != nil {
			panic("asmgen: pair kernel: work after the pointer moves in " + r1)
		}
		work = append(work, l)
	}
	group := strings.Join(work, "\n") + "\n"
	for _, l := range work {
		group += secondRow(l) + "\n"
	}
	group += strings.Join(moves, "\n") + "\n"
	U := min(6, pairCode/(2*len(work)+len(moves)))

	// The constants the one-row kernel sets once per call: from its
	// entry, between its first-rows prefetch and its row loop.
	k := strings.Index(src, "\tMOVQ w+0(FP), SI\n")
	k2 := strings.Index(src, r1+"block:\n")
	entry := src[k+len("\tMOVQ w+0(FP), SI\n") : k2]
	var consts []string
	for _, l := range strings.Split(strings.TrimSuffix(entry, "\n"), "\n") {
		if !strings.HasPrefix(l, "\t"+streamPrefetch+" ") {
			consts = append(consts, l)
		}
	}

	checkGroupTemps(r1, work, consts)
	name := pairName(g)
	fmt.Fprintf(b, `// func %s%s
// Packed %s rows w + r·wstride and w + (r + rows/2)·wstride, r < rows/2,
// times the activation record x: out[r] and out[r + rows/2] (rows even,
// groups at most %d, mode accFinish). Each row's arithmetic is %s's
// (see internal/asmgen/pair.go).
TEXT ·%s(SB), NOSPLIT, $0-88
	MOVQ wstride+8(FP), DX
	MOVQ rows+48(FP), CX
	SHRQ $1, CX
	MOVQ CX, rows+48(FP)
	MOVQ CX, BX
	IMULQ DX, BX
	MOVQ CX, R10
	SHLQ $2, R10
	MOVQ out+40(FP), R8
	MOVQ w+0(FP), SI
`, name, pkAccSignature, g.name, U, r1, name)
	for off := 0; off < r1Prefetch; off += 64 {
		fmt.Fprintf(b, "\t%s %d(SI)\n\t%s %d(SI)(BX*1)\n", streamPrefetch, off, streamPrefetch, off)
	}
	b.WriteString(strings.Join(consts, "\n") + "\n")
	fmt.Fprintf(b, "%sblock:\n\tMOVQ w+0(FP), SI\n\tMOVQ x+16(FP), DI\n\tMOVQ groups+32(FP), CX\n\tMOVQ scales+80(FP), AX\n\tLEAQ (SI)(AX*1), R9\n\tVXORPS Z16, Z16, Z16\n\tVXORPS Z17, Z17, Z17\n", name)
	if g.r1Linear() {
		b.WriteString(r1LinearStart + "\t" + streamPrefetch + " -64(R13)(BX*1)\n")
	}
	for n := 1; n < U; n++ {
		fmt.Fprintf(b, "\tCMPQ CX, $%d\n\tJEQ %sg%d\n", n, name, U-n)
	}
	for u := 0; u < U; u++ {
		if u > 0 {
			fmt.Fprintf(b, "%sg%d:\n", name, u)
		}
		b.WriteString(group)
	}
	fmt.Fprintf(b, `	REDUCE16E(Z16, Y16, X16, Y2, X2)
	VMOVSS X16, (R8)
	REDUCE16E(Z17, Y17, X17, Y2, X2)
	VMOVSS X17, (R8)(R10*1)
	ADDQ $4, R8
	MOVQ w+0(FP), SI
	ADDQ DX, SI
	MOVQ SI, w+0(FP)
	MOVQ rows+48(FP), CX
	SUBQ $1, CX
	MOVQ CX, rows+48(FP)
	JG %sblock
	VZEROUPPER
	RET

`, name)
	return U
}
