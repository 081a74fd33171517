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

// func scaleRoundF16AVX512(x *float32, n int, s float32)
// x[i] = RoundF16(x[i]·s) for i < n (a multiple of 16): one multiply, then
// vcvtps2ph with rounding to nearest even and back.
TEXT ·scaleRoundF16AVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z2

roundloop:
	VMULPS (DI), Z2, Z0
	VCVTPS2PH $0, Z0, Y1
	VCVTPH2PS Y1, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ roundloop
	VZEROUPPER
	RET

// func swiGLUAVX512(gate, e, up *float32, n int)
// gate[i] = gate[i] / (1 + e[i]) · up[i] for i < n (a multiple of 16),
// e[i] = Exp(-gate[i]): SwiGLU's last step, the operations of its Go loop.
TEXT ·swiGLUAVX512(SB), NOSPLIT, $0-32
	MOVQ gate+0(FP), DI
	MOVQ e+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z3

gluloop:
	VADDPS (SI), Z3, Z1
	VMOVUPS (DI), Z0
	VDIVPS Z1, Z0, Z0
	VMULPS (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, CX
	JNZ gluloop
	VZEROUPPER
	RET
