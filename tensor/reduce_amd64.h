// Reduce the 16 lanes of Z to a scalar in lane 0 of X, in the order of
// tensor.Reduce16: l+8, l+4, then (0+2)+(1+3). Clobbers the register
// whose halves are TY and TX.
#define REDUCE16E(Z, Y, X, TY, TX) \
	VEXTRACTF32X8 $1, Z, TY \
	VADDPS TY, Y, Y \
	VEXTRACTF32X4 $1, Y, TX \
	VADDPS TX, X, X \
	VMOVHLPS X, X, TX \
	VADDPS TX, X, X \
	VMOVSHDUP X, TX \
	VADDSS TX, X, X
