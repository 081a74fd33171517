#include "textflag.h"
#include "lanemask_amd64.h"

// Constants of Exp (float32).
DATA expShift<>+0(SB)/4, $0x4b400000 // 0x1.8p23
GLOBL expShift<>(SB), RODATA|NOPTR, $4
DATA expL2E<>+0(SB)/4, $0x3fb8aa3b   // 0x1.715476p+0
GLOBL expL2E<>(SB), RODATA|NOPTR, $4
DATA expC1<>+0(SB)/4, $0x3f317200    // 0x1.62e4p-1
GLOBL expC1<>(SB), RODATA|NOPTR, $4
DATA expC2<>+0(SB)/4, $0x35bfbe8e    // 0x1.7f7d1cp-20
GLOBL expC2<>(SB), RODATA|NOPTR, $4
DATA expP0<>+0(SB)/4, $0x3c072010    // 0x1.0e4020p-7
GLOBL expP0<>(SB), RODATA|NOPTR, $4
DATA expP1<>+0(SB)/4, $0x3d2b9f17    // 0x1.573e2ep-5
GLOBL expP1<>(SB), RODATA|NOPTR, $4
DATA expP2<>+0(SB)/4, $0x3e2aaf33    // 0x1.555e66p-3
GLOBL expP2<>(SB), RODATA|NOPTR, $4
DATA expP3<>+0(SB)/4, $0x3efffedb    // 0x1.fffdb6p-2
GLOBL expP3<>(SB), RODATA|NOPTR, $4
DATA expP4<>+0(SB)/4, $0x3f7ffff6    // 0x1.ffffecp-1
GLOBL expP4<>(SB), RODATA|NOPTR, $4
DATA expOne<>+0(SB)/4, $0x3f800000   // 1
GLOBL expOne<>(SB), RODATA|NOPTR, $4
DATA expLow<>+0(SB)/4, $0xc3480000   // -200: Exp is 0 from about -104
GLOBL expLow<>(SB), RODATA|NOPTR, $4

// EXPCONSTS loads the constants EXP16 expects into Z13-Z25.
#define EXPCONSTS \
	VBROADCASTSS expLow<>(SB), Z13 \
	VBROADCASTSS expShift<>(SB), Z14 \
	VBROADCASTSS expL2E<>(SB), Z16 \
	VBROADCASTSS expC1<>(SB), Z18 \
	VBROADCASTSS expC2<>(SB), Z19 \
	VBROADCASTSS expP0<>(SB), Z20 \
	VBROADCASTSS expP1<>(SB), Z21 \
	VBROADCASTSS expP2<>(SB), Z22 \
	VBROADCASTSS expP3<>(SB), Z23 \
	VBROADCASTSS expP4<>(SB), Z24 \
	VBROADCASTSS expOne<>(SB), Z25

// EXP16 sets Z9 to Exp of the 16 lanes of Z0 (clobbering Z0-Z8), with the
// constants of EXPCONSTS: Exp's fused multiply-adds as vfmadd…ps, each
// rounded once, and the final scaling by vscalefps. Inputs below -200
// (-Inf among them; NaN passes) are raised to -200 first, where Exp is
// already 0, so that the range reduction never sees an infinity.
#define EXP16 \
	VMAXPS Z0, Z13, Z0 \
	VMOVAPS Z14, Z2 \
	VFMADD231PS Z16, Z0, Z2 \
	VSUBPS Z14, Z2, Z3 \
	VMOVAPS Z0, Z5 \
	VFNMADD231PS Z18, Z3, Z5 \
	VFNMADD231PS Z19, Z3, Z5 \
	VMULPS Z5, Z5, Z6 \
	VMOVAPS Z21, Z7 \
	VFMADD231PS Z20, Z5, Z7 \
	VMOVAPS Z23, Z8 \
	VFMADD231PS Z22, Z5, Z8 \
	VFMADD231PS Z7, Z6, Z8 \
	VMOVAPS Z25, Z9 \
	VFMADD231PS Z24, Z5, Z9 \
	VFMADD231PS Z8, Z6, Z9 \
	VSCALEFPS Z3, Z9, Z9

// func expShiftAVX512(dst, src *float32, n int, sub float32)
// dst[i] = Exp(src[i] - sub) for n (> 0) elements, 16 at a time (EXP16:
// Exp's arithmetic exactly), the last n mod 16 under a lane mask (softmax
// rows have any length).
TEXT ·expShiftAVX512(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS sub+24(FP), Z15
	EXPCONSTS
	SUBQ $16, CX
	JL tail

loop:
	VMOVUPS (SI), Z0
	VSUBPS Z15, Z0, Z0
	EXP16
	VMOVUPS Z9, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JGE loop

tail:
	ADDQ $16, CX
	JZ done
	LANEMASK
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS Z15, Z0, Z0
	EXP16
	VMOVUPS Z9, K1, (DI)

done:
	VZEROUPPER
	RET

// func swiGLUExpAVX512(gate, up *float32, n int)
// gate[i] = gate[i] / (1 + Exp(-gate[i])) · up[i] for n (a multiple of 16)
// elements: SwiGLU's Go loop with EXP16 for the exponential, in one pass.
TEXT ·swiGLUExpAVX512(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), DX
	MOVQ n+16(FP), CX
	EXPCONSTS
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z12
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z11

gluexploop:
	VMOVUPS (DI), Z10
	VXORPS Z12, Z10, Z0
	EXP16
	VADDPS Z11, Z9, Z9
	VDIVPS Z9, Z10, Z10
	VMULPS (DX), Z10, Z10
	VMOVUPS Z10, (DI)
	ADDQ $64, DI
	ADDQ $64, DX
	SUBQ $16, CX
	JNZ gluexploop
	VZEROUPPER
	RET

// func expShiftAVX2(dst, src *float32, n int, sub float32) int
// dst[i] = Exp(src[i] - sub), 8 at a time with Exp's arithmetic (fused
// multiply-adds rounded once), for n (a positive multiple of 8) elements
// or until a group of 8 has a lane whose power of two n is outside
// [-125, 127] (a result that is not a normal number, or NaN): without
// vscalefps the scaling adds n to the exponent field, which is exact only
// there. Returns the elements done (a multiple of 8); the caller takes the
// stopping group with the scalar Exp.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS sub+24(FP), Y15
	VBROADCASTSS expShift<>(SB), Y14
	VBROADCASTSS expL2E<>(SB), Y13
	VBROADCASTSS expC1<>(SB), Y12
	VBROADCASTSS expC2<>(SB), Y11
	MOVL $0xc2fa0000, AX // -125
	VMOVD AX, X10
	VBROADCASTSS X10, Y10
	MOVL $0x42fe0000, AX // 127
	VMOVD AX, X1
	VBROADCASTSS X1, Y1
	XORQ DX, DX

exp8loop:
	VMOVUPS (SI)(DX*4), Y0
	VSUBPS Y15, Y0, Y0
	VMOVAPS Y14, Y2
	VFMADD231PS Y13, Y0, Y2
	VSUBPS Y14, Y2, Y3
	VMOVAPS Y0, Y5
	VFNMADD231PS Y12, Y3, Y5
	VFNMADD231PS Y11, Y3, Y5
	VMULPS Y5, Y5, Y6
	VBROADCASTSS expP1<>(SB), Y7
	VBROADCASTSS expP0<>(SB), Y4
	VFMADD231PS Y4, Y5, Y7
	VBROADCASTSS expP3<>(SB), Y8
	VBROADCASTSS expP2<>(SB), Y4
	VFMADD231PS Y4, Y5, Y8
	VFMADD231PS Y7, Y6, Y8
	VBROADCASTSS expOne<>(SB), Y9
	VBROADCASTSS expP4<>(SB), Y4
	VFMADD231PS Y4, Y5, Y9
	VFMADD231PS Y8, Y6, Y9
	VCMPPS $13, Y10, Y3, Y4 // n >= -125 (false for NaN)
	VCMPPS $2, Y1, Y3, Y7   // n <= 127
	VANDPS Y4, Y7, Y4
	VMOVMSKPS Y4, AX
	CMPL AX, $0xff
	JNE exp8done
	VCVTPS2DQ Y3, Y3
	VPSLLD $23, Y3, Y3
	VPADDD Y3, Y9, Y9
	VMOVUPS Y9, (DI)(DX*4)
	ADDQ $8, DX
	CMPQ DX, CX
	JL exp8loop

exp8done:
	VZEROUPPER
	MOVQ DX, ret+32(FP)
	RET
