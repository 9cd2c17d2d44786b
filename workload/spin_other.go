//go:build !amd64

package workload

import "sync/atomic"

// spin adds n to *units one step at a time. Without an assembly PAUSE the
// atomic add keeps each step a real memory operation.
func spin(units *uint64, n uint64) {
	for range n {
		atomic.AddUint64(units, 1)
	}
}
