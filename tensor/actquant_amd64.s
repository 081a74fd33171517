#include "textflag.h"

// func quantBlocksAVX512(x *float32, n int, rec *byte)
// Quantizes blocks 0..n-1 (n <= 16) of one group: block j is x[32j:32j+32]
// and goes to lane j of the activation record rec (layout in packed.go).
// The arithmetic is quantizeBlock's, operation for operation (max|x|,
// d = amax/127, inv = 1/d or 0, q = int(float32(v·inv) + 1.5·2²³) - 1.5·2²³),
// so the record is the same bit for bit.
TEXT ·quantBlocksAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ rec+16(FP), DI
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z31            // |x| mask
	MOVL $0x4b400000, AX            // 12582912.0 = 1.5·2²³
	VPBROADCASTD AX, Z30
	MOVL $12582912, AX
	VPBROADCASTD AX, Z29
	MOVL $0x42fe0000, AX            // 127.0
	VMOVD AX, X28
	MOVL $0x3f800000, AX            // 1.0
	VMOVD AX, X27
	XORQ BX, BX                     // 4j
	TESTQ CX, CX
	JLE done
block:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VANDPS Z31, Z0, Z2
	VANDPS Z31, Z1, Z3
	VMAXPS Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXSS X3, X2, X2               // amax
	VDIVSS X28, X2, X4              // d = amax/127
	VMOVSS X4, 512(DI)(BX*1)
	VXORPS X5, X5, X5
	VUCOMISS X5, X4
	JEQ zero
	VDIVSS X4, X27, X5              // inv = 1/d
zero:
	VBROADCASTSS X5, Z5
	VMULPS Z5, Z0, Z0
	VMULPS Z5, Z1, Z1
	VADDPS Z30, Z0, Z0
	VADDPS Z30, Z1, Z1
	VCVTTPS2DQ Z0, Z0
	VCVTTPS2DQ Z1, Z1
	VPSUBD Z29, Z0, Z0              // q[0:16]
	VPSUBD Z29, Z1, Z1              // q[16:32]
	VPMOVDB Z0, X6
	VPMOVDB Z1, X7
	LEAQ (DI)(BX*1), R8
	VMOVD X6, 0(R8)
	VPEXTRD $1, X6, 64(R8)
	VPEXTRD $2, X6, 128(R8)
	VPEXTRD $3, X6, 192(R8)
	VMOVD X7, 256(R8)
	VPEXTRD $1, X7, 320(R8)
	VPEXTRD $2, X7, 384(R8)
	VPEXTRD $3, X7, 448(R8)
	// half = Σq[0:16], sum = half + Σq[16:32]
	VEXTRACTI64X4 $1, Z0, Y2
	VPADDD Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X2
	VPADDD X2, X0, X0
	VPSHUFD $0x4e, X0, X2
	VPADDD X2, X0, X0
	VPSHUFD $0xb1, X0, X2
	VPADDD X2, X0, X0
	VEXTRACTI64X4 $1, Z1, Y2
	VPADDD Y2, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPADDD X2, X1, X1
	VPSHUFD $0x4e, X1, X2
	VPADDD X2, X1, X1
	VPSHUFD $0xb1, X1, X2
	VPADDD X2, X1, X1
	VMOVD X0, AX                    // half
	VMOVD X1, DX
	ADDL AX, DX                     // sum
	IMULL $-128, AX
	IMULL $-128, DX
	MOVL DX, 576(R8)
	MOVL AX, 640(R8)
	ADDQ $128, SI
	ADDQ $4, BX
	DECQ CX
	JNZ block
done:
	VZEROUPPER
	RET

// func quantBlocksAVX2(x *float32, n int, rec *byte)
// quantBlocksAVX512 with 8-lane vectors: quantizeBlock's arithmetic,
// operation for operation, for blocks 0..n-1 (n <= 16) of one group.
TEXT ·quantBlocksAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ rec+16(FP), DI
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15           // |x| mask
	MOVL $0x4b400000, AX            // 12582912.0 = 1.5·2²³
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $12582912, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x42fe0000, AX            // 127.0
	VMOVD AX, X12
	MOVL $0x3f800000, AX            // 1.0
	VMOVD AX, X11
	XORQ BX, BX                     // 4j
	TESTQ CX, CX
	JLE done2

block2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VANDPS Y15, Y2, Y6
	VANDPS Y15, Y3, Y7
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXSS X5, X4, X4               // amax
	VDIVSS X12, X4, X4              // d = amax/127
	VMOVSS X4, 512(DI)(BX*1)
	VXORPS X5, X5, X5
	VUCOMISS X5, X4
	JEQ zero2
	VDIVSS X4, X11, X5              // inv = 1/d

zero2:
	VBROADCASTSS X5, Y5
	VMULPS Y5, Y0, Y0
	VMULPS Y5, Y1, Y1
	VMULPS Y5, Y2, Y2
	VMULPS Y5, Y3, Y3
	VADDPS Y14, Y0, Y0
	VADDPS Y14, Y1, Y1
	VADDPS Y14, Y2, Y2
	VADDPS Y14, Y3, Y3
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	VPSUBD Y13, Y0, Y0              // q[0:8]
	VPSUBD Y13, Y1, Y1              // q[8:16]
	VPSUBD Y13, Y2, Y2              // q[16:24]
	VPSUBD Y13, Y3, Y3              // q[24:32]
	// Bytes (|q| <= 127: no saturation). Per 128-bit lane, packing gives
	// steps 0, 2, 4, 6 (low lane) and 1, 3, 5, 7 (high lane), 4 bytes each.
	VPACKSSDW Y1, Y0, Y4
	VPACKSSDW Y3, Y2, Y5
	VPACKSSWB Y5, Y4, Y6
	VEXTRACTI128 $1, Y6, X7
	LEAQ (DI)(BX*1), R8
	VMOVD X6, 0(R8)
	VPEXTRD $1, X6, 128(R8)
	VPEXTRD $2, X6, 256(R8)
	VPEXTRD $3, X6, 384(R8)
	VMOVD X7, 64(R8)
	VPEXTRD $1, X7, 192(R8)
	VPEXTRD $2, X7, 320(R8)
	VPEXTRD $3, X7, 448(R8)
	// half = Σq[0:16], sum = half + Σq[16:32]
	VPADDD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X4
	VPADDD X4, X0, X0
	VPSHUFD $0x4e, X0, X4
	VPADDD X4, X0, X0
	VPSHUFD $0xb1, X0, X4
	VPADDD X4, X0, X0
	VPADDD Y3, Y2, Y2
	VEXTRACTI128 $1, Y2, X4
	VPADDD X4, X2, X2
	VPSHUFD $0x4e, X2, X4
	VPADDD X4, X2, X2
	VPSHUFD $0xb1, X2, X4
	VPADDD X4, X2, X2
	VMOVD X0, AX                    // half
	VMOVD X2, DX
	ADDL AX, DX                     // sum
	IMULL $-128, AX
	IMULL $-128, DX
	MOVL DX, 576(R8)
	MOVL AX, 640(R8)
	ADDQ $128, SI
	ADDQ $4, BX
	DECQ CX
	JNZ block2

done2:
	VZEROUPPER
	RET
