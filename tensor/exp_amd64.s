#include "textflag.h"

// Constants of Exp as float64 (each is a float32 value, so exact).
DATA expL2E<>+0(SB)/8, $0x3FF7154760000000   // 0x1.715476p+0
GLOBL expL2E<>(SB), RODATA|NOPTR, $8
DATA expShiftD<>+0(SB)/8, $0x4168000000000000 // 0x1.8p23
GLOBL expShiftD<>(SB), RODATA|NOPTR, $8
DATA expC1<>+0(SB)/8, $0x3FE62E4000000000    // 0x1.62e4p-1
GLOBL expC1<>(SB), RODATA|NOPTR, $8
DATA expC2<>+0(SB)/8, $0x3EB7F7D1C0000000    // 0x1.7f7d1cp-20
GLOBL expC2<>(SB), RODATA|NOPTR, $8
DATA expP0<>+0(SB)/8, $0x3F80E40200000000    // 0x1.0e4020p-7
GLOBL expP0<>(SB), RODATA|NOPTR, $8
DATA expP1<>+0(SB)/8, $0x3FA573E2E0000000    // 0x1.573e2ep-5
GLOBL expP1<>(SB), RODATA|NOPTR, $8
DATA expP2<>+0(SB)/8, $0x3FC555E660000000    // 0x1.555e66p-3
GLOBL expP2<>(SB), RODATA|NOPTR, $8
DATA expP3<>+0(SB)/8, $0x3FDFFFDB60000000    // 0x1.fffdb6p-2
GLOBL expP3<>(SB), RODATA|NOPTR, $8
DATA expP4<>+0(SB)/8, $0x3FEFFFFEC0000000    // 0x1.ffffecp-1
GLOBL expP4<>(SB), RODATA|NOPTR, $8
DATA expOne<>+0(SB)/8, $0x3FF0000000000000   // 1
GLOBL expOne<>(SB), RODATA|NOPTR, $8
DATA expShiftF<>+0(SB)/4, $0x4B400000        // 0x1.8p23 as float32
GLOBL expShiftF<>(SB), RODATA|NOPTR, $4

// RND rounds the 8 float64 lanes of Z to float32 and back: the float32
// result of one fmaFast.
#define RND(Z, Y) VCVTPD2PS Z, Y; VCVTPS2PD Y, Z

// EXPCONSTS loads the constants EXP8 expects into Y14 and Z16-Z25.
#define EXPCONSTS \
	VBROADCASTSS expShiftF<>(SB), Y14 \
	VBROADCASTSD expL2E<>(SB), Z16 \
	VBROADCASTSD expShiftD<>(SB), Z17 \
	VBROADCASTSD expC1<>(SB), Z18 \
	VBROADCASTSD expC2<>(SB), Z19 \
	VBROADCASTSD expP0<>(SB), Z20 \
	VBROADCASTSD expP1<>(SB), Z21 \
	VBROADCASTSD expP2<>(SB), Z22 \
	VBROADCASTSD expP3<>(SB), Z23 \
	VBROADCASTSD expP4<>(SB), Z24 \
	VBROADCASTSD expOne<>(SB), Z25

// EXP8 sets Y9 to Exp of the 8 float32 lanes of Y0 (clobbering Y0-Y8,
// Z1-Z9), with the constants in Y14 and Z16-Z25: every fused
// multiply-add of Exp in float64 lanes then rounded to float32, as
// fmaFast does, and the final scaling by vscalefps.
#define EXP8 \
	VCVTPS2PD Y0, Z1 \
	VMOVAPD Z17, Z2 \
	VFMADD231PD Z16, Z1, Z2 \
	VCVTPD2PS Z2, Y2 \
	VSUBPS Y14, Y2, Y3 \
	VCVTPS2PD Y3, Z4 \
	VMOVAPD Z1, Z5 \
	VFNMADD231PD Z18, Z4, Z5 \
	RND(Z5, Y5) \
	VFNMADD231PD Z19, Z4, Z5 \
	VCVTPD2PS Z5, Y5 \
	VMULPS Y5, Y5, Y6 \
	VCVTPS2PD Y5, Z5 \
	VCVTPS2PD Y6, Z6 \
	VMOVAPD Z21, Z7 \
	VFMADD231PD Z20, Z5, Z7 \
	RND(Z7, Y7) \
	VMOVAPD Z23, Z8 \
	VFMADD231PD Z22, Z5, Z8 \
	RND(Z8, Y8) \
	VFMADD231PD Z7, Z6, Z8 \
	RND(Z8, Y8) \
	VMOVAPD Z25, Z9 \
	VFMADD231PD Z24, Z5, Z9 \
	RND(Z9, Y9) \
	VFMADD231PD Z8, Z6, Z9 \
	VCVTPD2PS Z9, Y9 \
	VSCALEFPS Y3, Y9, Y9


// func expShiftAVX512(dst, src *float32, n int, sub float32)
// dst[i] = Exp(src[i] - sub) for n (a multiple of 8) elements, 8 at a
// time: every fused multiply-add of Exp in float64 lanes then rounded to
// float32, as fmaFast does, and the final scaling by vscalefps.
TEXT ·expShiftAVX512(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS sub+24(FP), Y15
	EXPCONSTS

loop:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	EXP8
	VMOVUPS Y9, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ loop
	VZEROUPPER
	RET

// func swiGLUExpAVX512(gate, up *float32, n int)
// gate[i] = gate[i] / (1 + Exp(-gate[i])) · up[i] for n (a multiple of 8)
// elements: SwiGLU's Go loop with expShiftAVX512's arithmetic for the
// exponential, in one pass.
TEXT ·swiGLUExpAVX512(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), DX
	MOVQ n+16(FP), CX
	EXPCONSTS
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Y13
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Y12

gluexploop:
	VMOVUPS (DI), Y10
	VXORPS Y13, Y10, Y0
	EXP8
	VADDPS Y12, Y9, Y9
	VDIVPS Y9, Y10, Y10
	VMULPS (DX), Y10, Y10
	VMOVUPS Y10, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ gluexploop
	VZEROUPPER
	RET
