#include "textflag.h"

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
