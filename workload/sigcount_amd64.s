#include "textflag.h"

// The SIGUSR2 handler SignalStorm installs with rt_sigaction. It runs on
// the thread's signal stack (SA_ONSTACK), touches no Go state and only
// counts the delivery; its return lands in sigCountRestorer.
TEXT ·sigCountHandler(SB), NOSPLIT|NOFRAME, $0-0
	LOCK
	INCQ ·sigCount(SB)
	RET

// sa_restorer: return from the handler through rt_sigreturn(2).
TEXT ·sigCountRestorer(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ $15, AX
	SYSCALL
	INT $3

// func sigCountAddrs() (handler, restorer uintptr)
// The raw (ABI0) entry addresses, not those of Go's ABI wrappers.
TEXT ·sigCountAddrs(SB), NOSPLIT, $0-16
	LEAQ ·sigCountHandler(SB), AX
	MOVQ AX, handler+0(FP)
	LEAQ ·sigCountRestorer(SB), AX
	MOVQ AX, restorer+8(FP)
	RET
