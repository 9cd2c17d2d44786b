#include "textflag.h"

// ALU chains: four independent multiply chains, one multiply per chain per
// step, so a core with one multiplier port per cycle stays saturated (the
// latency of each chain is hidden by the other three). Seeds and
// multipliers are fixed odd 64-bit constants, so no chain collapses to 0.
// Each returns the XOR of its accumulators (vector lanes summed, since
// lanes start equal and would cancel under XOR), which the caller keeps.

#define SEED0 $0x9E3779B97F4A7C15
#define SEED1 $0xBF58476D1CE4E5B9
#define SEED2 $0x94D049BB133111EB
#define SEED3 $0xD6E8FEB86659FD93
#define MUL0 $0x2545F4914F6CDD1D
#define MUL1 $0x27BB2EE687B0B0FD
#define MUL2 $0xFF51AFD7ED558CCD
#define MUL3 $0xC4CEB9FE1A85EC53

// func aluScalar(n uint64) uint64
// 64-bit IMUL chains in general registers.
TEXT ·aluScalar(SB), NOSPLIT, $0-16
	MOVQ n+0(FP), CX
	MOVQ SEED0, AX
	MOVQ SEED1, BX
	MOVQ SEED2, DX
	MOVQ SEED3, SI
	MOVQ MUL0, R8
	MOVQ MUL1, R9
	MOVQ MUL2, R10
	MOVQ MUL3, R11
	TESTQ CX, CX
	JZ sdone
sloop:
	IMULQ R8, AX
	IMULQ R9, BX
	IMULQ R10, DX
	IMULQ R11, SI
	DECQ CX
	JNZ sloop
sdone:
	XORQ BX, AX
	XORQ DX, AX
	XORQ SI, AX
	MOVQ AX, ret+8(FP)
	RET

// LOADX, LOADVEC and LOADZ put a 64-bit constant into every lane of an
// XMM (SSE2), YMM (AVX2 VPBROADCASTQ from XMM) or ZMM register (AVX-512
// VPBROADCASTQ from a general register), through AX.
#define LOADX(c, x) MOVQ c, AX; MOVQ AX, x; PUNPCKLQDQ x, x
#define LOADVEC(c, x, y) MOVQ c, AX; MOVQ AX, x; VPBROADCASTQ x, y
#define LOADZ(c, z) MOVQ c, AX; VPBROADCASTQ AX, z

// SUMY0 adds Y0's four 64-bit lanes into AX and leaves the AVX state
// clean: the tail of the 256- and 512-bit chains.
#define SUMY0 VEXTRACTI128 $1, Y0, X1; VPADDQ X1, X0, X0; VMOVQ X0, AX; VPEXTRQ $1, X0, BX; ADDQ BX, AX; VZEROUPPER

// func aluVec128(n uint64) uint64
// SSE2 PMULUDQ (32×32→64 per 64-bit lane) chains in XMM registers.
TEXT ·aluVec128(SB), NOSPLIT, $0-16
	MOVQ n+0(FP), CX
	LOADX(SEED0, X0)
	LOADX(SEED1, X1)
	LOADX(SEED2, X2)
	LOADX(SEED3, X3)
	LOADX(MUL0, X4)
	LOADX(MUL1, X5)
	LOADX(MUL2, X6)
	LOADX(MUL3, X7)
	TESTQ CX, CX
	JZ xdone
xloop:
	PMULULQ X4, X0
	PMULULQ X5, X1
	PMULULQ X6, X2
	PMULULQ X7, X3
	DECQ CX
	JNZ xloop
xdone:
	PXOR X1, X0
	PXOR X2, X0
	PXOR X3, X0
	MOVQ X0, AX
	PSRLDQ $8, X0
	MOVQ X0, BX
	ADDQ BX, AX
	MOVQ AX, ret+8(FP)
	RET

// func aluVec256(n uint64) uint64
// AVX2 VPMULUDQ chains in YMM registers.
TEXT ·aluVec256(SB), NOSPLIT, $0-16
	MOVQ n+0(FP), CX
	LOADVEC(SEED0, X0, Y0)
	LOADVEC(SEED1, X1, Y1)
	LOADVEC(SEED2, X2, Y2)
	LOADVEC(SEED3, X3, Y3)
	LOADVEC(MUL0, X4, Y4)
	LOADVEC(MUL1, X5, Y5)
	LOADVEC(MUL2, X6, Y6)
	LOADVEC(MUL3, X7, Y7)
	TESTQ CX, CX
	JZ ydone
yloop:
	VPMULUDQ Y4, Y0, Y0
	VPMULUDQ Y5, Y1, Y1
	VPMULUDQ Y6, Y2, Y2
	VPMULUDQ Y7, Y3, Y3
	DECQ CX
	JNZ yloop
ydone:
	VPXOR Y1, Y0, Y0
	VPXOR Y2, Y0, Y0
	VPXOR Y3, Y0, Y0
	SUMY0
	MOVQ AX, ret+8(FP)
	RET

// func aluVec512(n uint64) uint64
// AVX-512F VPMULUDQ chains in ZMM registers.
TEXT ·aluVec512(SB), NOSPLIT, $0-16
	MOVQ n+0(FP), CX
	LOADZ(SEED0, Z0)
	LOADZ(SEED1, Z1)
	LOADZ(SEED2, Z2)
	LOADZ(SEED3, Z3)
	LOADZ(MUL0, Z4)
	LOADZ(MUL1, Z5)
	LOADZ(MUL2, Z6)
	LOADZ(MUL3, Z7)
	TESTQ CX, CX
	JZ zdone
zloop:
	VPMULUDQ Z4, Z0, Z0
	VPMULUDQ Z5, Z1, Z1
	VPMULUDQ Z6, Z2, Z2
	VPMULUDQ Z7, Z3, Z3
	DECQ CX
	JNZ zloop
zdone:
	VPXORQ Z1, Z0, Z0
	VPXORQ Z2, Z0, Z0
	VPXORQ Z3, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDQ Y1, Y0, Y0
	SUMY0
	MOVQ AX, ret+8(FP)
	RET
