#include "textflag.h"

// func adamWAVX2(p, m, v, gr *float32, n int, c *AdamW)
// AdamWStep on n (a positive multiple of 8) elements, eight at a time, the
// same float32 operations in the same order as adamWGo.
TEXT ·adamWAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ m+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ gr+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // Inv
	VBROADCASTSS 4(AX), Y9   // B1
	VBROADCASTSS 8(AX), Y10  // NB1
	VBROADCASTSS 12(AX), Y11 // B2
	VBROADCASTSS 16(AX), Y12 // NB2
	VBROADCASTSS 20(AX), Y13 // IC1
	VBROADCASTSS 24(AX), Y14 // IC2
	VBROADCASTSS 28(AX), Y15 // Eps
adamloop:
	VMULPS (BX), Y8, Y0      // gi
	VMULPS (SI), Y9, Y1      // B1·m
	VMULPS Y0, Y10, Y2       // NB1·gi
	VADDPS Y2, Y1, Y1        // m
	VMOVUPS Y1, (SI)
	VMULPS Y0, Y0, Y3        // gi²
	VMULPS Y3, Y12, Y3       // NB2·gi²
	VMULPS (DX), Y11, Y4     // B2·v
	VADDPS Y3, Y4, Y4        // v
	VMOVUPS Y4, (DX)
	VMULPS Y4, Y14, Y4       // v·IC2
	VSQRTPS Y4, Y4
	VADDPS Y15, Y4, Y4       // den
	VMULPS Y1, Y13, Y1       // m·IC1
	VBROADCASTSS 32(AX), Y5  // LR
	VMULPS Y1, Y5, Y1
	VDIVPS Y4, Y1, Y1        // LR·m̂/den
	VMOVUPS (DI), Y6
	VBROADCASTSS 36(AX), Y5  // LRWD
	VMULPS Y6, Y5, Y7
	VADDPS Y7, Y1, Y1        // step
	VSUBPS Y1, Y6, Y6
	VMOVUPS Y6, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	SUBQ $8, CX
	JNZ adamloop
	VZEROUPPER
	RET
