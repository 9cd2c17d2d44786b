//go:build !amd64

package workload

import "unsafe"

// sbRow computes row i of C = A·B: a and c point at row i of A and C, b
// at B, each matrix n×n, storing the running sum into C after every step.
func sbRow(a, b, c *uint64, n int) {
	ai := unsafe.Slice(a, n)
	bm := unsafe.Slice(b, n*n)
	ci := unsafe.Slice(c, n)
	for j := range ci {
		var acc uint64
		ci[j] = 0
		for k, av := range ai {
			acc += av * bm[k*n+j]
			ci[j] = acc
		}
	}
}
