#include "textflag.h"

// func cacheRMW(buf []byte, stride, steps int)
// The loop of the C reference (bench/c/cache_rmw.c) as gcc -O2 emits it,
// at the same 64-byte alignment: per step a byte load, a byte store of it
// + 1, idx += stride and one taken branch; the modulo wrap is out of line.
// Written here rather than compiled, because where the Go linker places a
// Go loop relative to the front end's 64-byte fetch blocks changed from
// build to build and moved this loop's rate by up to 1.7×.
TEXT ·cacheRMW(SB), NOSPLIT, $0-40
	MOVQ buf_base+0(FP), R10
	MOVQ buf_len+8(FP), R8
	MOVQ stride+24(FP), R9
	MOVQ steps+32(FP), CX
	XORL DX, DX
	TESTQ CX, CX
	JLE done
	PCALIGN $64
loop:
	LEAQ (R10)(DX*1), SI
	ADDQ R9, DX
	MOVBLZX (SI), AX
	INCL AX
	MOVB AX, (SI)
	CMPQ DX, R8
	JAE wrap
next:
	DECQ CX
	JNE loop
done:
	RET
wrap:
	// DX:AX / R8: the remainder, the new index, lands in DX.
	MOVQ DX, AX
	XORL DX, DX
	DIVQ R8
	JMP next
