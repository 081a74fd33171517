#include "textflag.h"
#include "lanemask_amd64.h"

// func accumRows16AVX512(rows *float32, d int, p *float32, v *float32, vstride int, n int, a0 int)
// For a < n: rows[(a0+a)%16][0:d] += p[a] · v[a·vstride : a·vstride+d], one
// fused multiply-add per element (d a multiple of 16). The Go form is
// AccumRows16's loop over FMARow.
TEXT ·accumRows16AVX512(SB), NOSPLIT, $0-56
	MOVQ rows+0(FP), DI
	MOVQ d+8(FP), R9
	MOVQ p+16(FP), SI
	MOVQ v+24(FP), BX
	MOVQ vstride+32(FP), DX
	SHLQ $2, DX
	MOVQ n+40(FP), CX
	MOVQ a0+48(FP), AX
	ANDQ $15, AX
	MOVQ R9, R10
	SHLQ $2, R10

rowloop:
	VBROADCASTSS (SI), Z0
	MOVQ AX, R11
	IMULQ R10, R11
	ADDQ DI, R11
	MOVQ BX, R12
	MOVQ R9, R13

elemloop:
	VMOVUPS (R11), Z1
	VFMADD231PS (R12), Z0, Z1
	VMOVUPS Z1, (R11)
	ADDQ $64, R11
	ADDQ $64, R12
	SUBQ $16, R13
	JNZ elemloop
	ADDQ $4, SI
	ADDQ DX, BX
	INCQ AX
	ANDQ $15, AX
	DECQ CX
	JNZ rowloop
	VZEROUPPER
	RET

// func scaleRoundF16AVX512(x *float32, n int, s float32)
// x[i] = RoundF16(x[i]·s) for i < n (> 0): one multiply, then vcvtps2ph
// with rounding to nearest even and back; the last n mod 16 under a lane
// mask.
TEXT ·scaleRoundF16AVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z2
	SUBQ $16, CX
	JL roundtail

roundloop:
	VMULPS (DI), Z2, Z0
	VCVTPS2PH $0, Z0, Y1
	VCVTPH2PS Y1, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JGE roundloop

roundtail:
	ADDQ $16, CX
	JZ rounddone
	LANEMASK
	VMOVUPS.Z (DI), K1, Z0
	VMULPS Z2, Z0, Z0
	VCVTPS2PH $0, Z0, Y1
	VCVTPH2PS Y1, Z0
	VMOVUPS Z0, K1, (DI)

rounddone:
	VZEROUPPER
	RET

// func accum4AVX512(r0, r1, r2, r3 *float32, p *float32, v *float32, vstride int, count int, extra int)
// Four rows of 64 floats r_j (j < 4) accumulate p[j+16k]·v[(j+16k)·vstride:][:64]
// for k < count, then r_j for j < extra one more position (k = count), one
// fused multiply-add per element in order of k: the positions a ≡ j (mod 16)
// of AccumRows16, with the rows held in registers instead of memory.
TEXT ·accum4AVX512(SB), NOSPLIT, $0-72
	MOVQ r0+0(FP), R8
	MOVQ r1+8(FP), R9
	MOVQ r2+16(FP), R10
	MOVQ r3+24(FP), R11
	MOVQ p+32(FP), SI
	MOVQ v+40(FP), DI
	MOVQ vstride+48(FP), DX
	SHLQ $2, DX
	MOVQ count+56(FP), CX
	MOVQ extra+64(FP), BX
	LEAQ (DI)(DX*1), R12
	LEAQ (DI)(DX*2), R13
	LEAQ (R12)(DX*2), R14
	MOVQ DX, R15
	SHLQ $4, R15
	VMOVUPS (R8), Z16
	VMOVUPS 64(R8), Z17
	VMOVUPS 128(R8), Z18
	VMOVUPS 192(R8), Z19
	VMOVUPS (R9), Z20
	VMOVUPS 64(R9), Z21
	VMOVUPS 128(R9), Z22
	VMOVUPS 192(R9), Z23
	VMOVUPS (R10), Z24
	VMOVUPS 64(R10), Z25
	VMOVUPS 128(R10), Z26
	VMOVUPS 192(R10), Z27
	VMOVUPS (R11), Z28
	VMOVUPS 64(R11), Z29
	VMOVUPS 128(R11), Z30
	VMOVUPS 192(R11), Z31
	TESTQ CX, CX
	JZ accum4tail

accum4loop:
	VBROADCASTSS (SI), Z0
	VBROADCASTSS 4(SI), Z1
	VBROADCASTSS 8(SI), Z2
	VBROADCASTSS 12(SI), Z3
	VFMADD231PS (DI), Z0, Z16
	VFMADD231PS 64(DI), Z0, Z17
	VFMADD231PS 128(DI), Z0, Z18
	VFMADD231PS 192(DI), Z0, Z19
	VFMADD231PS (R12), Z1, Z20
	VFMADD231PS 64(R12), Z1, Z21
	VFMADD231PS 128(R12), Z1, Z22
	VFMADD231PS 192(R12), Z1, Z23
	VFMADD231PS (R13), Z2, Z24
	VFMADD231PS 64(R13), Z2, Z25
	VFMADD231PS 128(R13), Z2, Z26
	VFMADD231PS 192(R13), Z2, Z27
	VFMADD231PS (R14), Z3, Z28
	VFMADD231PS 64(R14), Z3, Z29
	VFMADD231PS 128(R14), Z3, Z30
	VFMADD231PS 192(R14), Z3, Z31
	ADDQ $64, SI
	ADDQ R15, DI
	ADDQ R15, R12
	ADDQ R15, R13
	ADDQ R15, R14
	DECQ CX
	JNZ accum4loop

accum4tail:
	CMPQ BX, $1
	JLT accum4done
	VBROADCASTSS (SI), Z0
	VFMADD231PS (DI), Z0, Z16
	VFMADD231PS 64(DI), Z0, Z17
	VFMADD231PS 128(DI), Z0, Z18
	VFMADD231PS 192(DI), Z0, Z19
	CMPQ BX, $2
	JLT accum4done
	VBROADCASTSS 4(SI), Z1
	VFMADD231PS (R12), Z1, Z20
	VFMADD231PS 64(R12), Z1, Z21
	VFMADD231PS 128(R12), Z1, Z22
	VFMADD231PS 192(R12), Z1, Z23
	CMPQ BX, $3
	JLT accum4done
	VBROADCASTSS 8(SI), Z2
	VFMADD231PS (R13), Z2, Z24
	VFMADD231PS 64(R13), Z2, Z25
	VFMADD231PS 128(R13), Z2, Z26
	VFMADD231PS 192(R13), Z2, Z27

accum4done:
	VMOVUPS Z16, (R8)
	VMOVUPS Z17, 64(R8)
	VMOVUPS Z18, 128(R8)
	VMOVUPS Z19, 192(R8)
	VMOVUPS Z20, (R9)
	VMOVUPS Z21, 64(R9)
	VMOVUPS Z22, 128(R9)
	VMOVUPS Z23, 192(R9)
	VMOVUPS Z24, (R10)
	VMOVUPS Z25, 64(R10)
	VMOVUPS Z26, 128(R10)
	VMOVUPS Z27, 192(R10)
	VMOVUPS Z28, (R11)
	VMOVUPS Z29, 64(R11)
	VMOVUPS Z30, 128(R11)
	VMOVUPS Z31, 192(R11)
	VZEROUPPER
	RET

// func reduceRows16AVX512(dst, rows *float32, d int)
// dst[i] = the 16 rows' column i summed as Reduce16 sums lanes: row l plus
// row l+8, then l+4, then (0+2)+(1+3); d a multiple of 16.
TEXT ·reduceRows16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ d+16(FP), CX
	MOVQ CX, DX
	SHLQ $2, DX
	LEAQ (DX)(DX*2), R8
	LEAQ (SI)(DX*4), R9
	LEAQ (R9)(DX*4), R10
	LEAQ (R10)(DX*4), R11

reduceloop:
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(DX*1), Z1
	VMOVUPS (SI)(DX*2), Z2
	VMOVUPS (SI)(R8*1), Z3
	VMOVUPS (R9), Z4
	VMOVUPS (R9)(DX*1), Z5
	VMOVUPS (R9)(DX*2), Z6
	VMOVUPS (R9)(R8*1), Z7
	VADDPS (R10), Z0, Z0
	VADDPS (R10)(DX*1), Z1, Z1
	VADDPS (R10)(DX*2), Z2, Z2
	VADDPS (R10)(R8*1), Z3, Z3
	VADDPS (R11), Z4, Z4
	VADDPS (R11)(DX*1), Z5, Z5
	VADDPS (R11)(DX*2), Z6, Z6
	VADDPS (R11)(R8*1), Z7, Z7
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	VADDPS Z2, Z0, Z0
	VADDPS Z3, Z1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, R9
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ reduceloop
	VZEROUPPER
	RET

// func scaleMaxAVX512(x *float32, n int, s float32) float32
// x[i] *= s for i < n (a multiple of 16, > 0); returns the largest x[i]
// (vmaxps passes over a NaN in x only as its first operand, as the
// portable loop's v > mx does).
TEXT ·scaleMaxAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z2
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z1

scalemaxloop:
	VMULPS (DI), Z2, Z0
	VMOVUPS Z0, (DI)
	VMAXPS Z1, Z0, Z1
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ scalemaxloop
	VEXTRACTF32X8 $1, Z1, Y0
	VMAXPS Y0, Y1, Y1
	VEXTRACTF128 $1, Y1, X0
	VMAXPS X0, X1, X1
	VMOVHLPS X1, X1, X0
	VMAXPS X0, X1, X1
	VMOVSHDUP X1, X0
	VMAXSS X0, X1, X1
	VZEROUPPER
	MOVSS X1, ret+24(FP)
	RET

// func sumBlocks16AVX512(x *float32, n int) float64
// The sum of the blocks of 16 of x (n > 0; the last block padded with
// zeros by a zero-masking load), each block reduced as Reduce16 and added
// in float64, in order.
TEXT ·sumBlocks16AVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VXORPD X4, X4, X4
	MOVL $0xffff, AX
	KMOVW AX, K1

sumblockloop:
	CMPQ CX, $16
	JGE sumblockfull
	LANEMASK

sumblockfull:
	VMOVUPS.Z (DI), K1, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X4, X4
	ADDQ $64, DI
	SUBQ $16, CX
	JG sumblockloop
	VZEROUPPER
	MOVSD X4, ret+16(FP)
	RET

// func accumHeads4AVX512(r0, r1, r2, r3 *float32, p *float32, pstride int, v *float32, vstride int, count int)
// Four heads' rows of 64 floats r_k (k < 4) accumulate
// p[k·pstride + 16i]·v[16i·vstride:][:64] for i < count (> 0), one fused
// multiply-add per element in order of i: one residue class of
// AccumRows16 for four heads at once, each value row loaded once for all
// four (a grouped-query kv head serves several query heads).
TEXT ·accumHeads4AVX512(SB), NOSPLIT, $0-72
	MOVQ r0+0(FP), R8
	MOVQ r1+8(FP), R9
	MOVQ r2+16(FP), R10
	MOVQ r3+24(FP), R11
	MOVQ p+32(FP), SI
	MOVQ pstride+40(FP), BX
	SHLQ $2, BX
	LEAQ (SI)(BX*2), R12
	MOVQ v+48(FP), DI
	MOVQ vstride+56(FP), DX
	SHLQ $6, DX
	MOVQ count+64(FP), CX
	VMOVUPS (R8), Z0
	VMOVUPS 64(R8), Z1
	VMOVUPS 128(R8), Z2
	VMOVUPS 192(R8), Z3
	VMOVUPS (R9), Z4
	VMOVUPS 64(R9), Z5
	VMOVUPS 128(R9), Z6
	VMOVUPS 192(R9), Z7
	VMOVUPS (R10), Z8
	VMOVUPS 64(R10), Z9
	VMOVUPS 128(R10), Z10
	VMOVUPS 192(R10), Z11
	VMOVUPS (R11), Z12
	VMOVUPS 64(R11), Z13
	VMOVUPS 128(R11), Z14
	VMOVUPS 192(R11), Z15

accumheadsloop:
	VMOVUPS (DI), Z16
	VMOVUPS 64(DI), Z17
	VMOVUPS 128(DI), Z18
	VMOVUPS 192(DI), Z19
	VBROADCASTSS (SI), Z20
	VBROADCASTSS (SI)(BX*1), Z21
	VBROADCASTSS (R12), Z22
	VBROADCASTSS (R12)(BX*1), Z23
	VFMADD231PS Z16, Z20, Z0
	VFMADD231PS Z17, Z20, Z1
	VFMADD231PS Z18, Z20, Z2
	VFMADD231PS Z19, Z20, Z3
	VFMADD231PS Z16, Z21, Z4
	VFMADD231PS Z17, Z21, Z5
	VFMADD231PS Z18, Z21, Z6
	VFMADD231PS Z19, Z21, Z7
	VFMADD231PS Z16, Z22, Z8
	VFMADD231PS Z17, Z22, Z9
	VFMADD231PS Z18, Z22, Z10
	VFMADD231PS Z19, Z22, Z11
	VFMADD231PS Z16, Z23, Z12
	VFMADD231PS Z17, Z23, Z13
	VFMADD231PS Z18, Z23, Z14
	VFMADD231PS Z19, Z23, Z15
	ADDQ DX, DI
	ADDQ $64, SI
	ADDQ $64, R12
	DECQ CX
	JNZ accumheadsloop
	VMOVUPS Z0, (R8)
	VMOVUPS Z1, 64(R8)
	VMOVUPS Z2, 128(R8)
	VMOVUPS Z3, 192(R8)
	VMOVUPS Z4, (R9)
	VMOVUPS Z5, 64(R9)
	VMOVUPS Z6, 128(R9)
	VMOVUPS Z7, 192(R9)
	VMOVUPS Z8, (R10)
	VMOVUPS Z9, 64(R10)
	VMOVUPS Z10, 128(R10)
	VMOVUPS Z11, 192(R10)
	VMOVUPS Z12, (R11)
	VMOVUPS Z13, 64(R11)
	VMOVUPS Z14, 128(R11)
	VMOVUPS Z15, 192(R11)
	VZEROUPPER
	RET

// func dotRows16AVX512(out *float32, ostride int, q *float32, nq int, d int, k *float32, kstride int, blocks int)
// For blocks of 16 cache rows k_r = k[r·kstride:][:d] (d a multiple of
// 16, > 0) and the nq (> 0) query vectors q_h = q[h·d:][:d]:
// out[h·ostride + r] = Dot(q_h, k_r), 16 rows per store. Each row's
// products go into one 16-lane accumulator as in dot16 (zero, then a
// fused multiply-add per chunk of 16), and the 16 accumulators are reduced
// together by a transposed tree that adds exactly the lanes Reduce16 adds,
// in its order: (l, l+8), then (l, l+4), then (0+2) + (1+3). Accumulator
// j holds row 4·(j%4) + j/4, which leaves the 16 sums in row order.
TEXT ·dotRows16AVX512(SB), NOSPLIT, $0-64
	MOVQ ostride+8(FP), R13
	SHLQ $2, R13
	MOVQ kstride+48(FP), DX
	SHLQ $2, DX
	LEAQ (DX)(DX*2), R14
	MOVQ d+32(FP), AX
	SHLQ $2, AX
	MOVQ k+40(FP), R8
	MOVQ blocks+56(FP), R15
	MOVQ out+0(FP), R12

dr16block:
	LEAQ (R8)(DX*4), R9
	LEAQ (R9)(DX*4), R10
	LEAQ (R10)(DX*4), R11
	MOVQ q+16(FP), SI
	MOVQ nq+24(FP), BX
	MOVQ R12, DI

dr16head:
	MOVQ d+32(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

dr16chunk:
	VMOVUPS (SI), Z16
	VFMADD231PS (R8), Z16, Z0
	VFMADD231PS (R9), Z16, Z1
	VFMADD231PS (R10), Z16, Z2
	VFMADD231PS (R11), Z16, Z3
	VFMADD231PS (R8)(DX*1), Z16, Z4
	VFMADD231PS (R9)(DX*1), Z16, Z5
	VFMADD231PS (R10)(DX*1), Z16, Z6
	VFMADD231PS (R11)(DX*1), Z16, Z7
	VFMADD231PS (R8)(DX*2), Z16, Z8
	VFMADD231PS (R9)(DX*2), Z16, Z9
	VFMADD231PS (R10)(DX*2), Z16, Z10
	VFMADD231PS (R11)(DX*2), Z16, Z11
	VFMADD231PS (R8)(R14*1), Z16, Z12
	VFMADD231PS (R9)(R14*1), Z16, Z13
	VFMADD231PS (R10)(R14*1), Z16, Z14
	VFMADD231PS (R11)(R14*1), Z16, Z15
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, R10
	ADDQ $64, R11
	SUBQ $16, CX
	JNZ dr16chunk
	SUBQ AX, R8
	SUBQ AX, R9
	SUBQ AX, R10
	SUBQ AX, R11
	VSHUFF32X4 $0x44, Z1, Z0, Z16
	VSHUFF32X4 $0xee, Z1, Z0, Z17
	VADDPS Z17, Z16, Z0
	VSHUFF32X4 $0x44, Z3, Z2, Z16
	VSHUFF32X4 $0xee, Z3, Z2, Z17
	VADDPS Z17, Z16, Z1
	VSHUFF32X4 $0x44, Z5, Z4, Z16
	VSHUFF32X4 $0xee, Z5, Z4, Z17
	VADDPS Z17, Z16, Z2
	VSHUFF32X4 $0x44, Z7, Z6, Z16
	VSHUFF32X4 $0xee, Z7, Z6, Z17
	VADDPS Z17, Z16, Z3
	VSHUFF32X4 $0x44, Z9, Z8, Z16
	VSHUFF32X4 $0xee, Z9, Z8, Z17
	VADDPS Z17, Z16, Z4
	VSHUFF32X4 $0x44, Z11, Z10, Z16
	VSHUFF32X4 $0xee, Z11, Z10, Z17
	VADDPS Z17, Z16, Z5
	VSHUFF32X4 $0x44, Z13, Z12, Z16
	VSHUFF32X4 $0xee, Z13, Z12, Z17
	VADDPS Z17, Z16, Z6
	VSHUFF32X4 $0x44, Z15, Z14, Z16
	VSHUFF32X4 $0xee, Z15, Z14, Z17
	VADDPS Z17, Z16, Z7
	VSHUFF32X4 $0x88, Z1, Z0, Z16
	VSHUFF32X4 $0xdd, Z1, Z0, Z17
	VADDPS Z17, Z16, Z0
	VSHUFF32X4 $0x88, Z3, Z2, Z16
	VSHUFF32X4 $0xdd, Z3, Z2, Z17
	VADDPS Z17, Z16, Z1
	VSHUFF32X4 $0x88, Z5, Z4, Z16
	VSHUFF32X4 $0xdd, Z5, Z4, Z17
	VADDPS Z17, Z16, Z2
	VSHUFF32X4 $0x88, Z7, Z6, Z16
	VSHUFF32X4 $0xdd, Z7, Z6, Z17
	VADDPS Z17, Z16, Z3
	VSHUFPS $0x44, Z1, Z0, Z16
	VSHUFPS $0xee, Z1, Z0, Z17
	VADDPS Z17, Z16, Z0
	VSHUFPS $0x44, Z3, Z2, Z16
	VSHUFPS $0xee, Z3, Z2, Z17
	VADDPS Z17, Z16, Z1
	VSHUFPS $0x88, Z1, Z0, Z16
	VSHUFPS $0xdd, Z1, Z0, Z17
	VADDPS Z17, Z16, Z0
	VMOVUPS Z0, (DI)
	ADDQ R13, DI
	DECQ BX
	JNZ dr16head
	LEAQ (R11)(DX*4), R8
	ADDQ $64, R12
	DECQ R15
	JNZ dr16block
	VZEROUPPER
	RET

// func f32ToF16AVX512(dst *uint16, src *float32, n int)
// dst[i] = float16(src[i]) rounded to nearest even, for i < n (a positive
// multiple of 16).
TEXT ·f32ToF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

tohalfloop:
	VMOVUPS (SI), Z0
	VCVTPS2PH $0, Z0, Y1
	VMOVDQU Y1, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	SUBQ $16, CX
	JNZ tohalfloop
	VZEROUPPER
	RET

// func f16ToF32RowsAVX512(dst *float32, src *uint16, stride, d, n int)
// Rows a < n (> 0) of d float16 values (d a positive multiple of 16) at
// src + a·stride values, widened into dst + a·d floats.
TEXT ·f16ToF32RowsAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), DX
	SHLQ $1, DX
	MOVQ d+24(FP), R8
	MOVQ n+32(FP), CX

widenrow:
	MOVQ SI, R9
	MOVQ R8, R10

widenchunk:
	VCVTPH2PS (R9), Z0
	VMOVUPS Z0, (DI)
	ADDQ $32, R9
	ADDQ $64, DI
	SUBQ $16, R10
	JNZ widenchunk
	ADDQ DX, SI
	DECQ CX
	JNZ widenrow
	VZEROUPPER
	RET

// func f16ToF32RowsAVX2(dst *float32, src *uint16, stride, d, n int)
// f16ToF32RowsAVX512 with 8-value conversions (F16C), d a multiple of 8.
TEXT ·f16ToF32RowsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), DX
	SHLQ $1, DX
	MOVQ d+24(FP), R8
	MOVQ n+32(FP), CX

widenrow8:
	MOVQ SI, R9
	MOVQ R8, R10

widenchunk8:
	VCVTPH2PS (R9), Y0
	VMOVUPS Y0, (DI)
	ADDQ $16, R9
	ADDQ $32, DI
	SUBQ $8, R10
	JNZ widenchunk8
	ADDQ DX, SI
	DECQ CX
	JNZ widenrow8
	VZEROUPPER
	RET
