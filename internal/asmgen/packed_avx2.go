package main

import (
	"bytes"
	"fmt"
)

// AVX2 forms of the packed integer kernels, for machines without AVX-512
// VNNI: the same packed rows and activation records, one row at a time
// (looping over rows as the AVX-512 kernels do), T <= 4 tokens.
//
// A 64-byte vector of a group is taken as two 32-byte halves, lanes 0-7
// (blocks 0-7) and 8-15, each with its own float accumulators, so every
// lane sees exactly packedDot's arithmetic. Without vpdpbusd, four
// products per lane are summed by vpmaddubsw (unsigned × signed bytes to
// pairs of int16) and vpmaddwd by ones (to int32). vpmaddubsw saturates
// its pair sums at ±32767, which unsigned Q8_0 bytes (w+128, up to 255)
// times int8 activations can exceed; so Q8_0 weights are made signed again
// and multiplied as |w| × x·sign(w) (vpabsb, vpsignb), at most 2·128·127:
// the exact Σw·x, which is what packedDot's Σ(w+128)·x - 128·Σx is. 4- and
// 6-bit weights (at most 63) cannot saturate.
//
// Registers: temporaries Y0-Y3, integer accumulators Y4.. (one per token),
// float accumulators Y8.. (two per token: lanes 0-7, 8-15).

const avx2Consts = `DATA pkOnes16<>+0(SB)/8, $0x0001000100010001
DATA pkOnes16<>+8(SB)/8, $0x0001000100010001
DATA pkOnes16<>+16(SB)/8, $0x0001000100010001
DATA pkOnes16<>+24(SB)/8, $0x0001000100010001
GLOBL pkOnes16<>(SB), RODATA|NOPTR, $32
DATA pkBias80<>+0(SB)/8, $0x8080808080808080
DATA pkBias80<>+8(SB)/8, $0x8080808080808080
DATA pkBias80<>+16(SB)/8, $0x8080808080808080
DATA pkBias80<>+24(SB)/8, $0x8080808080808080
GLOBL pkBias80<>(SB), RODATA|NOPTR, $32
DATA pkNibble<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA pkNibble<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA pkNibble<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA pkNibble<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL pkNibble<>(SB), RODATA|NOPTR, $32
DATA pkMask03<>+0(SB)/8, $0x0303030303030303
DATA pkMask03<>+8(SB)/8, $0x0303030303030303
DATA pkMask03<>+16(SB)/8, $0x0303030303030303
DATA pkMask03<>+24(SB)/8, $0x0303030303030303
GLOBL pkMask03<>(SB), RODATA|NOPTR, $32
DATA pkMask04<>+0(SB)/8, $0x0404040404040404
DATA pkMask04<>+8(SB)/8, $0x0404040404040404
DATA pkMask04<>+16(SB)/8, $0x0404040404040404
DATA pkMask04<>+24(SB)/8, $0x0404040404040404
GLOBL pkMask04<>(SB), RODATA|NOPTR, $32
DATA pkMask10<>+0(SB)/8, $0x1010101010101010
DATA pkMask10<>+8(SB)/8, $0x1010101010101010
DATA pkMask10<>+16(SB)/8, $0x1010101010101010
DATA pkMask10<>+24(SB)/8, $0x1010101010101010
GLOBL pkMask10<>(SB), RODATA|NOPTR, $32
DATA pkMask30<>+0(SB)/8, $0x3030303030303030
DATA pkMask30<>+8(SB)/8, $0x3030303030303030
DATA pkMask30<>+16(SB)/8, $0x3030303030303030
DATA pkMask30<>+24(SB)/8, $0x3030303030303030
GLOBL pkMask30<>(SB), RODATA|NOPTR, $32
// The IQ4_NL grid by 4-bit index, in each 16-byte lane: + 128 (VNNI),
// signed (AVX2).
DATA pkIQ4U<>+0(SB)/8, $0x766a5d4f3f2d1801
DATA pkIQ4U<>+8(SB)/8, $0xf1d9c5b5a6998d81
DATA pkIQ4U<>+16(SB)/8, $0x766a5d4f3f2d1801
DATA pkIQ4U<>+24(SB)/8, $0xf1d9c5b5a6998d81
DATA pkIQ4U<>+32(SB)/8, $0x766a5d4f3f2d1801
DATA pkIQ4U<>+40(SB)/8, $0xf1d9c5b5a6998d81
DATA pkIQ4U<>+48(SB)/8, $0x766a5d4f3f2d1801
DATA pkIQ4U<>+56(SB)/8, $0xf1d9c5b5a6998d81
GLOBL pkIQ4U<>(SB), RODATA|NOPTR, $64
DATA pkIQ4S<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA pkIQ4S<>+8(SB)/8, $0x7159453526190d01
DATA pkIQ4S<>+16(SB)/8, $0xf6eaddcfbfad9881
DATA pkIQ4S<>+24(SB)/8, $0x7159453526190d01
DATA pkIQ4S<>+32(SB)/8, $0xf6eaddcfbfad9881
DATA pkIQ4S<>+40(SB)/8, $0x7159453526190d01
DATA pkIQ4S<>+48(SB)/8, $0xf6eaddcfbfad9881
DATA pkIQ4S<>+56(SB)/8, $0x7159453526190d01
GLOBL pkIQ4S<>(SB), RODATA|NOPTR, $64

// Reduce lanes 0-7 (LO) and 8-15 (HI) to a scalar in lane 0 of X, in the
// order of tensor.Reduce16 (X: LO's low half). Clobbers X3.
#define REDUCE16Y(LO, HI, X) \
	VADDPS HI, LO, LO \
	VEXTRACTF128 $1, LO, X3 \
	VADDPS X3, X, X \
	VMOVHLPS X, X, X3 \
	VADDPS X3, X, X \
	VMOVSHDUP X, X3 \
	VADDSS X3, X, X

`

// maskConst names the 32-byte constant of byte m (pkMask03, 04, 10, 30:
// the plane types' masks but the nibble mask, pkNibble; in avx2Consts).
func maskConst(m uint32) string { return fmt.Sprintf("pkMask%02x<>(SB)", m) }

func avx2Name(g packedGeom, T int) string { return fmt.Sprintf("pk%sr1t%dAVX2", g.name, T) }

func avx2Kernel(b *bytes.Buffer, g packedGeom, T int) {
	name := avx2Name(g, T)
	rowLoopPrologue(b, name, pkSignature, 64, fmt.Sprintf(`// Packed %s rows w + r·wstride (r < rows) times activation records
// x + t·xstride (t < %d): out[t·ostride/4 + r], with AVX2.
`, g.name, T), g.qbytes, r1Entry(1))
	// Up to 3 tokens leave Y14 and Y15 free for the constants (pairs of
	// ones; the bias or nibble mask): fewer loads per step.
	ones, mask := "pkOnes16<>(SB)", "pkBias80<>(SB)"
	if g.nibbles {
		mask = "pkNibble<>(SB)"
	}
	if g.lowBits == 2 {
		mask = maskConst(g.lowMask())
	} else if g.lowBits == 4 {
		mask = "pkNibble<>(SB)"
	}
	if T <= 3 {
		fmt.Fprintf(b, "\tVMOVDQU %s, Y14\n\tVMOVDQU %s, Y15\n", ones, mask)
		ones, mask = "Y14", "Y15"
	}
	iacc := func(t int) string { return fmt.Sprintf("Y%d", 4+t) }
	facc := func(t, h int) string { return fmt.Sprintf("Y%d", 8+2*t+h) }
	for t := 0; t < T; t++ {
		for h := 0; h < 2; h++ {
			fmt.Fprintf(b, "\tVXORPS %s, %s, %s\n", facc(t, h), facc(t, h), facc(t, h))
		}
	}
	// Software prefetch as the AVX-512 one-row kernels do it (see
	// r1Prefetch, r1Entry): the 4-bit and plane types sweep the row with
	// one pointer (r1LinearStart), the byte types fetch quants and scales
	// r1Prefetch ahead of each. Without it an AVX2 kernel left the stream
	// to the hardware prefetcher alone.
	linear := g.r1Linear()
	if linear {
		b.WriteString(r1LinearStart) // R13: unused by one-row tiles
	}
	fmt.Fprintf(b, "%sloop:\n", name)
	if linear {
		for off := 0; off < g.qbytes+g.meta; off += 64 {
			fmt.Fprintf(b, "\t%s %d(R13)\n", streamPrefetch, off)
		}
	} else {
		for off := 0; off < g.qbytes; off += 64 {
			fmt.Fprintf(b, "\t%s %d(SI)\n", streamPrefetch, r1Prefetch+off)
		}
		for off := 0; off < g.meta; off += 64 {
			fmt.Fprintf(b, "\t%s %d(R9)\n", streamPrefetch, r1Prefetch+off)
		}
	}
	// start sets the integer accumulators of lane half h.
	start := func(h, half int) {
		for t := 0; t < T; t++ {
			z := iacc(t)
			switch {
			case g.offsets || g.name == "Q8" || g.lut:
				fmt.Fprintf(b, "\tVPXOR %s, %s, %s\n", z, z, z)
				continue
			case g.halves && half == 0:
				fmt.Fprintf(b, "\tVMOVDQU %s, %s\n", at(recHalf+32*h, xAddr[t]), z)
			case g.halves:
				fmt.Fprintf(b, "\tVMOVDQU %s, %s\n\tVPSUBD %s, %s, %s\n", at(recCorr+32*h, xAddr[t]), z, at(recHalf+32*h, xAddr[t]), z, z)
			default:
				fmt.Fprintf(b, "\tVMOVDQU %s, %s\n", at(recCorr+32*h, xAddr[t]), z)
			}
			fmt.Fprintf(b, "\tVPSRAD $%d, %s, %s\n", g.corrShift, z, z)
		}
	}
	// dot adds u (unsigned bytes) times the activations at xoff·(token)
	// into the integer accumulators; sx: the activations get w's sign.
	dot := func(u string, xoff int, signFrom string) {
		for t := 0; t < T; t++ {
			if signFrom != "" {
				fmt.Fprintf(b, "\tVMOVDQU %s, Y2\n\tVPSIGNB %s, Y2, Y2\n\tVPMADDUBSW Y2, %s, Y2\n", at(xoff, xAddr[t]), signFrom, u)
			} else {
				fmt.Fprintf(b, "\tVPMADDUBSW %s, %s, Y2\n", at(xoff, xAddr[t]), u)
			}
			fmt.Fprintf(b, "\tVPMADDWD %s, Y2, Y2\n\tVPADDD Y2, %s, %s\n", ones, iacc(t), iacc(t))
		}
	}
	byteSteps := func(h, s0, s1 int) {
		for s := s0; s < s1; s++ {
			off := 64*s + 32*h
			if g.name == "Q8" {
				fmt.Fprintf(b, "\tVMOVDQU %s, Y0\n\tVPXOR %s, Y0, Y0\n\tVPABSB Y0, Y1\n", at(off, "(SI)"), mask)
				dot("Y1", off, "Y0")
			} else if g.lowBits > 0 {
				// The step's low bits or'd with its high bits (see
				// planeValues), lanes 8h..8h+7.
				loff, shift := g.planeLow(s)
				fmt.Fprintf(b, "\tVMOVDQU %s, Y0\n", at(loff+32*h, "(SI)"))
				if shift > 0 {
					fmt.Fprintf(b, "\tVPSRLW $%d, Y0, Y0\n", shift)
				}
				fmt.Fprintf(b, "\tVPAND %s, Y0, Y0\n", mask)
				if g.hiBits > 0 {
					hoff, shift := g.planeHigh(s)
					fmt.Fprintf(b, "\tVMOVDQU %s, Y1\n", at(hoff+32*h, "(SI)"))
					switch {
					case shift > 0:
						fmt.Fprintf(b, "\tVPSLLW $%d, Y1, Y1\n", shift)
					case shift < 0:
						fmt.Fprintf(b, "\tVPSRLW $%d, Y1, Y1\n", -shift)
					}
					fmt.Fprintf(b, "\tVPAND %s, Y1, Y1\n\tVPOR Y1, Y0, Y0\n", maskConst(g.hiMask()))
				}
				dot("Y0", off, "")
			} else {
				fmt.Fprintf(b, "\tVMOVDQU %s, Y0\n", at(off, "(SI)"))
				dot("Y0", off, "")
			}
		}
	}
	flush := func(h, metaOff int) {
		if g.kscales {
			// Lanes 8h..8h+7 are one super-block: d·sc into Y0, dmin·m
			// into Y3.
			sc, mn, d, dmin := g.kMeta(metaOff / 64)
			fmt.Fprintf(b, "\tVPMOVSXBD %s, Y0\n\tVCVTDQ2PS Y0, Y0\n\tVBROADCASTSS %s, Y1\n\tVMULPS Y1, Y0, Y0\n", at(sc+8*h, "(R9)"), at(d+4*h, "(R9)"))
			if mn >= 0 {
				fmt.Fprintf(b, "\tVPMOVSXBD %s, Y3\n\tVCVTDQ2PS Y3, Y3\n\tVBROADCASTSS %s, Y1\n\tVMULPS Y1, Y3, Y3\n", at(mn+8*h, "(R9)"), at(dmin+4*h, "(R9)"))
			}
		} else if g.offsets {
			b.WriteString(fmt.Sprintf("\tVMOVUPS %s, Y0\n\tVMOVUPS %s, Y3\n", at(32*h, "(R9)"), at(64+32*h, "(R9)")))
		} else if g.halves {
			fmt.Fprintf(b, "\tVMOVUPS %s, Y0\n", at(metaOff+32*h, "(R9)"))
		} else {
			fmt.Fprintf(b, "\tVCVTPH2PS %s, Y0\n", at(16*h, "(R9)"))
		}
		for t := 0; t < T; t++ {
			dx := at(recDx+32*h, xAddr[t])
			if !g.offsets {
				fmt.Fprintf(b, "\tVMULPS %s, Y0, Y1\n\tVCVTDQ2PS %s, %s\n\tVFMADD231PS Y1, %s, %s\n", dx, iacc(t), iacc(t), iacc(t), facc(t, h))
				continue
			}
			if !g.halves {
				// The offset term, then the scale term (see packedDot).
				fmt.Fprintf(b, "\tVMULPS %s, Y0, Y1\n\tVCVTDQ2PS %s, %s\n\tVFMADD231PS %s, Y3, %s\n\tVFMADD231PS Y1, %s, %s\n",
					dx, iacc(t), iacc(t), at(recCX+32*h, xAddr[t]), facc(t, h), iacc(t), facc(t, h))
				continue
			}
			// The scale term, then the offset term added to it, then the
			// sum to the accumulator (see packedDot).
			fmt.Fprintf(b, "\tVMULPS %s, Y0, Y1\n\tVCVTDQ2PS %s, %s\n\tVMULPS Y1, %s, %s\n", dx, iacc(t), iacc(t), iacc(t), iacc(t))
			if g.halves {
				// -Σx of the half.
				if metaOff == 0 {
					fmt.Fprintf(b, "\tVMOVDQU %s, Y2\n", at(recHalf+32*h, xAddr[t]))
				} else {
					fmt.Fprintf(b, "\tVMOVDQU %s, Y2\n\tVPSUBD %s, Y2, Y2\n", at(recCorr+32*h, xAddr[t]), at(recHalf+32*h, xAddr[t]))
				}
				fmt.Fprintf(b, "\tVPSRAD $%d, Y2, Y2\n\tVCVTDQ2PS Y2, Y2\n\tVMULPS %s, Y3, Y1\n\tVFMADD231PS Y1, Y2, %s\n", g.corrShift, dx, iacc(t))
			} else {
				// dmin·m times the record's d_x·(-Σx).
				fmt.Fprintf(b, "\tVFMADD231PS %s, Y3, %s\n", at(recCX+32*h, xAddr[t]), iacc(t))
			}
			fmt.Fprintf(b, "\tVADDPS %s, %s, %s\n", iacc(t), facc(t, h), facc(t, h))
		}
	}
	for h := 0; h < 2; h++ {
		switch {
		case g.lut:
			// IQ4_NL: each step's 4-bit indices looked up in the signed
			// grid (vpshufb), then multiplied as Q8_0's signed bytes are:
			// |w| × x·sign(w), exact.
			start(h, 0)
			for s := 0; s < 8; s++ {
				fmt.Fprintf(b, "\tVMOVDQU %s, Y0\n", at(64*(s/2)+32*h, "(SI)"))
				if s%2 == 1 {
					b.WriteString("\tVPSRLW $4, Y0, Y0\n")
				}
				fmt.Fprintf(b, "\tVPAND %s, Y0, Y0\n\tVMOVDQU pkIQ4S<>(SB), Y3\n\tVPSHUFB Y0, Y3, Y0\n\tVPABSB Y0, Y1\n", mask)
				dot("Y1", 64*s+32*h, "Y0")
			}
			flush(h, 0)
		case g.halves:
			start(h, 0)
			byteSteps(h, 0, 4)
			flush(h, 0)
			start(h, 1)
			byteSteps(h, 4, 8)
			flush(h, 64)
		case !g.nibbles:
			start(h, 0)
			byteSteps(h, 0, 8)
			flush(h, 0)
		default:
			// 4-bit weights (at most 15) times activations (|x| <= 127):
			// a vpmaddubsw pair is at most 3810, so all 8 of a half's pair
			// sums fit an int16 lane (30480) exactly. They are added there
			// and widened once (vpmaddwd by ones), then the correction
			// joins: 4 instructions per load and token instead of 6.
			for t := 0; t < T; t++ {
				fmt.Fprintf(b, "\tVPXOR %s, %s, %s\n", iacc(t), iacc(t), iacc(t))
			}
			for p := 0; p < 4; p++ {
				fmt.Fprintf(b, "\tVMOVDQU %s, Y1\n\tVPSRLW $4, Y1, Y0\n\tVPAND %s, Y1, Y1\n\tVPAND %s, Y0, Y0\n",
					at(64*p+32*h, "(SI)"), mask, mask)
				for t := 0; t < T; t++ {
					fmt.Fprintf(b, "\tVPMADDUBSW %s, Y1, Y2\n\tVPADDW Y2, %s, %s\n\tVPMADDUBSW %s, Y0, Y2\n\tVPADDW Y2, %s, %s\n",
						at(128*p+32*h, xAddr[t]), iacc(t), iacc(t), at(128*p+64+32*h, xAddr[t]), iacc(t), iacc(t))
				}
			}
			for t := 0; t < T; t++ {
				fmt.Fprintf(b, "\tVPMADDWD %s, %s, %s\n", ones, iacc(t), iacc(t))
				if !g.offsets {
					fmt.Fprintf(b, "\tVMOVDQU %s, Y2\n\tVPSRAD $%d, Y2, Y2\n\tVPADDD Y2, %s, %s\n", at(recCorr+32*h, xAddr[t]), g.corrShift, iacc(t), iacc(t))
				}
			}
			flush(h, 0)
		}
	}
	if linear {
		fmt.Fprintf(b, "\tADDQ $%d, R13\n", g.qbytes+g.meta)
	}
	fmt.Fprintf(b, "\tADDQ $%d, SI\n\tADDQ $%d, DI\n\tADDQ $%d, R11\n\tADDQ $%d, R9\n\tDECQ CX\n\tJNZ %sloop\n",
		g.qbytes, recBytes, recBytes, g.meta, name)
	b.WriteString("\tMOVQ ostride+56(FP), AX\n\tLEAQ (R8)(AX*2), R12\n")
	outAddr := []string{"(R8)", "(R8)(AX*1)", "(R8)(AX*2)", "(R12)(AX*1)"}
	for t := 0; t < T; t++ {
		lo, hi := 8+2*t, 9+2*t
		fmt.Fprintf(b, "\tREDUCE16Y(Y%d, Y%d, X%d)\n\tVMOVSS X%d, %s\n", lo, hi, lo, lo, outAddr[t])
	}
	rowLoopEpilogue(b, name, 1)
}
