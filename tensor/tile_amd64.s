#include "textflag.h"

#include "reduce_amd64.h" // REDUCE16E

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
	REDUCE16E(Z1, Y1, X1, Y9, X9)
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
	REDUCE16E(Z1, Y1, X1, Y9, X9)
	VZEROUPPER
	MOVSS X1, ret+24(FP)
	RET

// func tileF16x1AVX2(w *uint16, x *float32, cols int) float32
// The 16 lanes as two 8-lane halves. The next 4 KiB of the row stream
// (the next row or two) is prefetched as the row is read: AVX2 decoding
// of the F16 twin, builds alternated twice, 25.3 / 24.6 tok/s against
// 23.9 / 23.2, t(2) 70 / 67 ms against 80 / 81.
TEXT ·tileF16x1AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ cols+16(FP), CX
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
f16x1loop2:
	PREFETCHT0 4096(SI)
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


// REDUCE16Y2 reduces lanes 0-7 (LO) and 8-15 (HI) of a 16-lane sum to X
// lane 0 (X: LO's low half) in tileF16x1AVX2's order. Clobbers X9.
#define REDUCE16Y2(LO, HI, X) \
	VADDPS HI, LO, LO \
	VEXTRACTF128 $1, LO, X9 \
	VADDPS X9, X, X \
	VMOVHLPS X, X, X9 \
	VADDPS X9, X, X \
	VMOVSHDUP X, X9 \
	VADDSS X9, X, X

// R2T4OUT reduces the lanes 0-7 kept at OFF(R12) and the lanes 8-15 in
// ACC to out+OUTOFF (AX). Clobbers Y8, X9.
#define R2T4OUT(OFF, ACC, OUTOFF) \
	VMOVUPS OFF(R12), Y8 \
	REDUCE16Y2(Y8, ACC, X8) \
	MOVSS X8, OUTOFF(AX)

// R2T4STEP is tileF16r2t4AVX2's work on 16 columns: lanes of the two rows
// at R11 and R11+BX widened once, each token's activations (R14, R14+DX,
// R14+2DX, R15) loaded once for both.
#define R2T4STEP \
	VCVTPH2PS (R11), Y8 \
	VCVTPH2PS (R11)(BX*1), Y9 \
	VMOVUPS (R14), Y10 \
	VFMADD231PS Y10, Y8, Y0 \
	VFMADD231PS Y10, Y9, Y4 \
	VMOVUPS (R14)(DX*1), Y10 \
	VFMADD231PS Y10, Y8, Y1 \
	VFMADD231PS Y10, Y9, Y5 \
	VMOVUPS (R14)(DX*2), Y10 \
	VFMADD231PS Y10, Y8, Y2 \
	VFMADD231PS Y10, Y9, Y6 \
	VMOVUPS (R15), Y10 \
	VFMADD231PS Y10, Y8, Y3 \
	VFMADD231PS Y10, Y9, Y7 \
	ADDQ $32, R11 \
	ADDQ $64, R14 \
	ADDQ $64, R15

// func tileF16r2t4AVX2(w *uint16, wstride int, x *float32, cols, xstride int, out *float32, pf int)
// out[4r+t] = tileF16x1AVX2(row r, token t) for rows w, w + wstride bytes
// and tokens x + t·xstride, bit for bit. With 16 registers, 2 rows × 4
// tokens × 16 lanes do not fit at once, so lanes 0-7 of every 16 columns
// go first, then lanes 8-15 (each lane's sum in the same order either
// way). Each chunk of a row is widened once for four tokens, and a
// token's activations are loaded once for both rows (AVX2 machines' F16
// products had widened a row again for every token, and for batches of
// more than four tokens the activations come from L2). With pf != 0 the next pair of rows is
// prefetched as these are read (the first token tile of a pair: the
// others find its rows in cache, where prefetching again only cost
// prompts of 256 tokens a fifth).
TEXT ·tileF16r2t4AVX2(SB), NOSPLIT, $256-56
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), BX
	MOVQ x+16(FP), DI
	MOVQ xstride+32(FP), DX
	SHLQ $2, DX
	LEAQ (DI)(DX*2), R9
	ADDQ DX, R9
	XORQ R10, R10 // half: 0, then 16 bytes of halves / 32 of floats
	MOVQ SP, R12
r2t4half:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ cols+24(FP), CX
	MOVQ SI, R11
	ADDQ R10, R11 // row 0's halves of this lane half
	LEAQ (R11)(BX*2), R8 // the next pair's rows, prefetched as these are read
	MOVQ R10, R13
	SHLQ $1, R13  // activations: twice the offset
	LEAQ (DI)(R13*1), R14
	LEAQ (R9)(R13*1), R15
	TESTQ R10, R10 // lanes 8-15: the next pair is on its way already
	JNZ r2t4loopnp
	MOVQ pf+48(FP), AX
	TESTQ AX, AX
	JZ r2t4loopnp
r2t4loop:
	PREFETCHT0 (R8)
	PREFETCHT0 (R8)(BX*1)
	R2T4STEP
	ADDQ $32, R8
	SUBQ $16, CX
	JNZ r2t4loop
	JMP r2t4halfdone
r2t4loopnp:
	R2T4STEP
	SUBQ $16, CX
	JNZ r2t4loopnp
r2t4halfdone:
	TESTQ R10, R10
	JNZ r2t4reduce
	// Lanes 0-7 done: keep them, go on with lanes 8-15.
	VMOVUPS Y0, 0(R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	VMOVUPS Y4, 128(R12)
	VMOVUPS Y5, 160(R12)
	VMOVUPS Y6, 192(R12)
	VMOVUPS Y7, 224(R12)
	MOVQ $16, R10
	JMP r2t4half
r2t4reduce:
	MOVQ out+40(FP), AX
	R2T4OUT(0, Y0, 0)
	R2T4OUT(32, Y1, 4)
	R2T4OUT(64, Y2, 8)
	R2T4OUT(96, Y3, 12)
	R2T4OUT(128, Y4, 16)
	R2T4OUT(160, Y5, 20)
	R2T4OUT(192, Y6, 24)
	R2T4OUT(224, Y7, 28)
	VZEROUPPER
	RET
