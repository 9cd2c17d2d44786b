package workload

// cacheRMW increments steps bytes of buf, stride bytes apart, starting at 0
// and wrapping modulo len(buf); buf must not be empty. In assembly, so the
// loop is the C reference's instruction for instruction and at the same
// alignment (see the .s file).
//
//go:noescape
func cacheRMW(buf []byte, stride, steps int)
