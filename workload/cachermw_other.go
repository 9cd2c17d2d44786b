//go:build !amd64

package workload

import "unsafe"

// cacheRMW increments steps bytes of buf, stride bytes apart, starting at 0
// and wrapping modulo len(buf); buf must not be empty. The index stays
// below len(buf), so the access needs no bounds check; the rare modulo is
// out of line so the step keeps one taken branch, like the C reference.
//
//go:noinline
func cacheRMW(buf []byte, stride, steps int) {
	p := unsafe.Pointer(unsafe.SliceData(buf))
	n, s, idx := uint(len(buf)), uint(stride), uint(0)
	for range steps {
		*(*byte)(unsafe.Add(p, idx))++
		idx += s
		if idx >= n {
			idx = wrapIndex(idx, n)
		}
	}
}

//go:noinline
func wrapIndex(idx, n uint) uint { return idx % n }
