#include "textflag.h"

// func forkExit() (pid int, errno uintptr)
// clone(SIGCHLD) — a plain fork. The child runs only the exit_group(0)
// below: it never returns into Go code, whose runtime state (one thread
// copied out of many, locks possibly held) would be undefined after a raw
// fork. The parent returns the child's pid, or -1 and the errno.
TEXT ·forkExit(SB), NOSPLIT, $0-16
	MOVQ $56, AX   // SYS_clone
	MOVQ $17, DI   // flags = SIGCHLD
	XORQ SI, SI    // newsp = 0: the child keeps a copy of this stack
	XORQ DX, DX    // parent_tid
	XORQ R10, R10  // child_tid
	XORQ R8, R8    // tls
	SYSCALL
	TESTQ AX, AX
	JNE parent
	MOVQ $231, AX  // SYS_exit_group
	XORQ DI, DI    // status 0
	SYSCALL
	HLT            // not reached
parent:
	CMPQ AX, $0xfffffffffffff001
	JLS ok
	NEGQ AX
	MOVQ $-1, pid+0(FP)
	MOVQ AX, errno+8(FP)
	RET
ok:
	MOVQ AX, pid+0(FP)
	MOVQ $0, errno+8(FP)
	RET
