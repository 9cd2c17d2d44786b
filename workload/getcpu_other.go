//go:build !amd64

package workload

// cpuReader returns how this worker reads its CPU at checkpoints.
func cpuReader() func() int { return getcpu }
