#include "textflag.h"

// Lane indices that split 16 (cos, sin) pairs held in two vectors into
// their cosines (even) and sines (odd).
DATA ropeEven<>+0(SB)/8, $0x0000000200000000
DATA ropeEven<>+8(SB)/8, $0x0000000600000004
DATA ropeEven<>+16(SB)/8, $0x0000000a00000008
DATA ropeEven<>+24(SB)/8, $0x0000000e0000000c
DATA ropeEven<>+32(SB)/8, $0x0000001200000010
DATA ropeEven<>+40(SB)/8, $0x0000001600000014
DATA ropeEven<>+48(SB)/8, $0x0000001a00000018
DATA ropeEven<>+56(SB)/8, $0x0000001e0000001c
GLOBL ropeEven<>(SB), RODATA|NOPTR, $64

// func ropePairsAVX512(x *float32, cs *float32, n int)
// Rotates the pairs (x[2i], x[2i+1]) by (cs[2i], cs[2i+1]) = (cos, sin)
// for 2i < n (n a multiple of 16, > 0), as Rope.Apply does:
// x0·c - x1·s and x1·c + x0·s, each product rounded (no fused
// multiply-add), so the results are Apply's bit for bit.
TEXT ·ropePairsAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ cs+8(FP), SI
	MOVQ n+16(FP), CX
	// -0.0 in the even lanes: negates x1·s there.
	MOVQ $0x80000000, AX
	VPBROADCASTQ AX, Z7

ropepairsloop:
	VMOVUPS (DI), Z0
	VMOVUPS (SI), Z1
	VMOVSLDUP Z1, Z2         // c c
	VMOVSHDUP Z1, Z3         // s s
	VPERMILPS $0xb1, Z0, Z4  // x1 x0
	VMULPS Z2, Z0, Z5        // x0·c, x1·c
	VMULPS Z3, Z4, Z6        // x1·s, x0·s
	VXORPS Z7, Z6, Z6        // -x1·s, x0·s
	VADDPS Z6, Z5, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ ropepairsloop
	VZEROUPPER
	RET

// func ropeNeoxAVX512(x *float32, cs *float32, n int, half int)
// Rotates the pairs (x[i], x[i+half]) by (cs[2i], cs[2i+1]) for i < n
// (a multiple of 16, > 0), as Rope.Apply does for Neox: x0·c - x1·s and
// x0·s + x1·c, each product rounded.
TEXT ·ropeNeoxAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ cs+8(FP), SI
	MOVQ half+24(FP), BX
	LEAQ (DI)(BX*4), BX
	MOVQ n+16(FP), CX
	VMOVDQU32 ropeEven<>(SB), Z8
	MOVL $1, AX
	VPBROADCASTD AX, Z9
	VPADDD Z9, Z8, Z9        // odd lanes

ropeneoxloop:
	VMOVUPS (SI), Z2
	VMOVAPS Z2, Z3
	VPERMT2PS 64(SI), Z8, Z2 // c
	VPERMT2PS 64(SI), Z9, Z3 // s
	VMOVUPS (DI), Z0         // x0
	VMOVUPS (BX), Z1         // x1
	VMULPS Z2, Z0, Z4        // x0·c
	VMULPS Z3, Z1, Z5        // x1·s
	VSUBPS Z5, Z4, Z4
	VMULPS Z3, Z0, Z5        // x0·s
	VMULPS Z2, Z1, Z6        // x1·c
	VADDPS Z6, Z5, Z5
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, (BX)
	ADDQ $64, DI
	ADDQ $64, BX
	ADDQ $128, SI
	SUBQ $16, CX
	JNZ ropeneoxloop
	VZEROUPPER
	RET
