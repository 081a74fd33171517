#include "textflag.h"

// func sumSquaresAVX512(x *float32, n int) float64
// Σ x[i]² for n a multiple of 16 (> 0), as sumSquaresGo: squares rounded
// to float32, widened and added in float64 into 16 lanes (lane j takes
// i ≡ j mod 16), the lanes reduced as l+8, l+4, l+2, then 0+1.
TEXT ·sumSquaresAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1

sumsqloop:
	VMOVUPS (SI), Z2
	VMULPS Z2, Z2, Z2
	VCVTPS2PD Y2, Z3
	VEXTRACTF32X8 $1, Z2, Y4
	VCVTPS2PD Y4, Z4
	VADDPD Z3, Z0, Z0
	VADDPD Z4, Z1, Z1
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ sumsqloop
	VADDPD Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	VZEROUPPER
	MOVSD X0, ret+16(FP)
	RET

// func scaleMulAVX512(dst, x, w *float32, n int, s float32)
// dst[i] = (x[i]·s)·w[i] for i < n, a multiple of 16 (> 0).
TEXT ·scaleMulAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Z1

scalemulloop:
	VMULPS (SI), Z1, Z0
	VMULPS (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ scalemulloop
	VZEROUPPER
	RET
