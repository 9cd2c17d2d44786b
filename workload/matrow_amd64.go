package workload

// sbRow computes row i of C = A·B: a and c point at row i of A and C, b
// at B, each matrix n×n (see matrow_amd64.s).
//
//go:noescape
func sbRow(a, b, c *uint64, n int)
