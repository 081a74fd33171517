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
