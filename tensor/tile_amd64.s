#include "textflag.h"

// Reduce the 16 lanes of Z to a scalar in X lane 0, in the order of
// Reduce16: l+8, l+4, then (0+2)+(1+3). Clobbers Y31/X31... via T.
#define REDUCE16(Z, Y, X, T, TX, TY) \
	VEXTRACTF32X8 $1, Z, TY \
	VADDPS TY, Y, Y \
	VEXTRACTF128 $1, Y, TX \
	VADDPS TX, X, X \
	VMOVHLPS X, X, TX \
	VADDPS TX, X, X \
	VMOVSHDUP X, TX \
	VADDSS TX, X, X

// func tileF16x1AVX512(w *uint16, x *float32, cols int) float32
TEXT ·tileF16x1AVX512(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ cols+16(FP), CX
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
f16x1loop:
	VCVTPH2PS (SI), Z0
	VFMADD231PS (DI), Z0, Z1
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ f16x1loop
	REDUCE16(Z1, Y1, X1, Z9, X9, Y9)
	VZEROUPPER
	MOVSS X1, ret+24(FP)
	RET

// func tileBF16x1AVX512(w *uint16, x *float32, cols int) float32
TEXT ·tileBF16x1AVX512(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ cols+16(FP), CX
	VXORPS Z1, Z1, Z1
bf16x1loop:
	VPMOVZXWD (SI), Z0
	VPSLLD $16, Z0, Z0
	VFMADD231PS (DI), Z0, Z1
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ bf16x1loop
	REDUCE16(Z1, Y1, X1, Z9, X9, Y9)
	VZEROUPPER
	MOVSS X1, ret+24(FP)
	RET

// func tileF16x1AVX2(w *uint16, x *float32, cols int) float32
// The 16 lanes as two 8-lane halves.
TEXT ·tileF16x1AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ cols+16(FP), CX
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
f16x1loop2:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y3
	VFMADD231PS (DI), Y0, Y1
	VFMADD231PS 32(DI), Y3, Y2
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ f16x1loop2
	VADDPS Y2, Y1, Y1
	VEXTRACTF128 $1, Y1, X9
	VADDPS X9, X1, X1
	VMOVHLPS X1, X1, X9
	VADDPS X9, X1, X1
	VMOVSHDUP X1, X9
	VADDSS X9, X1, X1
	VZEROUPPER
	MOVSS X1, ret+24(FP)
	RET

