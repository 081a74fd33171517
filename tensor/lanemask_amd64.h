// LANEMASK sets K1 to the low CX lanes of a 16-lane vector (0 < CX < 16),
// clobbering AX: the mask of a row's last CX values, which the kernels
// load with zeroing and store under it (rows of any length).
#define LANEMASK \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K1
