#include "textflag.h"

// func streamReadAVX2(p *byte, n int) uint64
// Reads n bytes (a multiple of 128) with 256-bit loads into four
// independent sums: the machine's memory read rate, nothing else.
TEXT ·streamReadAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3

streamloop:
	VPADDQ (SI), Y0, Y0
	VPADDQ 32(SI), Y1, Y1
	VPADDQ 64(SI), Y2, Y2
	VPADDQ 96(SI), Y3, Y3
	ADDQ $128, SI
	SUBQ $128, CX
	JNZ streamloop
	VPADDQ Y1, Y0, Y0
	VPADDQ Y3, Y2, Y2
	VPADDQ Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	VMOVQ X0, AX
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET

// func vnniLoopAVX512(iters int)
// iters × 12 independent 512-bit vpdpbusd (64 products each): the int8
// multiply-add peak of one core.
TEXT ·vnniLoopAVX512(SB), NOSPLIT, $0-8
	MOVQ iters+0(FP), CX
	VPTERNLOGD $0xff, Z0, Z0, Z0
	VPTERNLOGD $0xff, Z1, Z1, Z1
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

vnniloop:
	VPDPBUSD Z1, Z0, Z4
	VPDPBUSD Z1, Z0, Z5
	VPDPBUSD Z1, Z0, Z6
	VPDPBUSD Z1, Z0, Z7
	VPDPBUSD Z1, Z0, Z8
	VPDPBUSD Z1, Z0, Z9
	VPDPBUSD Z1, Z0, Z10
	VPDPBUSD Z1, Z0, Z11
	VPDPBUSD Z1, Z0, Z12
	VPDPBUSD Z1, Z0, Z13
	VPDPBUSD Z1, Z0, Z14
	VPDPBUSD Z1, Z0, Z15
	DECQ CX
	JNZ vnniloop
	VZEROUPPER
	RET
