#include "textflag.h"

// func sbRow(a, b, c *uint64, n int)
// One row of schbench's naive product: for each column j, C[j] = Σ_k
// A[k]·B[k][j] with B's rows n words apart, the sum kept in a register and
// stored to C[j] after every step, which is the loop gcc -O2 makes of
// upstream's do_some_math.
TEXT ·sbRow(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ c+16(FP), DX
	MOVQ n+24(FP), CX
	TESTQ CX, CX
	JLE done
	MOVQ CX, R8
	SHLQ $3, R8
	XORQ R9, R9
jloop:
	MOVQ $0, (DX)(R9*8)
	XORQ AX, AX
	LEAQ (DI)(R9*8), R10
	XORQ R11, R11
kloop:
	MOVQ (SI)(R11*8), BX
	IMULQ (R10), BX
	ADDQ BX, AX
	MOVQ AX, (DX)(R9*8)
	ADDQ R8, R10
	INCQ R11
	CMPQ R11, CX
	JLT kloop
	INCQ R9
	CMPQ R9, CX
	JLT jloop
done:
	RET
