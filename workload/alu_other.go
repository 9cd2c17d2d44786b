//go:build !amd64

package workload

// aluScalar runs n steps of four independent 64-bit multiply chains.
//
//go:noinline
func aluScalar(n uint64) uint64 {
	a, b, c, d := uint64(0x9E3779B97F4A7C15), uint64(0xBF58476D1CE4E5B9), uint64(0x94D049BB133111EB), uint64(0xD6E8FEB86659FD93)
	for range n {
		a *= 0x2545F4914F6CDD1D
		b *= 0x27BB2EE687B0B0FD
		c *= 0xFF51AFD7ED558CCD
		d *= 0xC4CEB9FE1A85EC53
	}
	return a ^ b ^ c ^ d
}

// aluWidths lists the widths this build can run: vector chains are
// written for amd64 only.
func aluWidths() []aluImpl { return []aluImpl{{"Scalar", aluScalar}} }
