#include "textflag.h"

// func spin(units *uint64, n uint64)
// One spin step = one increment of *units through memory plus PAUSE, so
// the compiler cannot shrink the loop and the core sees the same hint as
// ktstr's spin_loop().
TEXT ·spin(SB), NOSPLIT, $0-16
	MOVQ units+0(FP), AX
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JZ done
loop:
	INCQ (AX)
	PAUSE
	DECQ CX
	JNZ loop
done:
	RET
