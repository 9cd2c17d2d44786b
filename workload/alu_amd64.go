package workload

import "golang.org/x/sys/cpu"

// The ALU chains, in alu_amd64.s. Each runs n steps of four independent
// multiply chains and returns the XOR of the accumulators.
func aluScalar(n uint64) uint64
func aluVec128(n uint64) uint64
func aluVec256(n uint64) uint64
func aluVec512(n uint64) uint64

// aluWidths lists the data-path widths this CPU can run, narrowest first.
// x/sys/cpu reports AVX2 and AVX-512F only when the OS also saves their
// register state.
func aluWidths() []aluImpl {
	ws := []aluImpl{{"Scalar", aluScalar}, {"Vec128", aluVec128}}
	if cpu.X86.HasAVX2 {
		ws = append(ws, aluImpl{"Vec256", aluVec256})
	}
	if cpu.X86.HasAVX512F {
		ws = append(ws, aluImpl{"Vec512", aluVec512})
	}
	return ws
}
