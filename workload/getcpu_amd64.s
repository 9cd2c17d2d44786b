#include "textflag.h"

// func hasRDTSCP() bool
// CPUID leaf 0x80000001, EDX bit 27.
TEXT ·hasRDTSCP(SB), NOSPLIT, $0-1
	MOVL $0x80000001, AX
	XORL CX, CX
	CPUID
	SHRL $27, DX
	ANDL $1, DX
	MOVB DX, ret+0(FP)
	RET

// func rdtscpCPU() int
// RDTSCP puts TSC_AUX in ECX, which Linux sets to (node << 12) | cpu.
TEXT ·rdtscpCPU(SB), NOSPLIT, $0-8
	RDTSCP
	ANDQ $0xfff, CX
	MOVQ CX, ret+0(FP)
	RET
