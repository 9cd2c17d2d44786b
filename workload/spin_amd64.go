package workload

// spin adds n to *units one step at a time, with a PAUSE after each step.
//
//go:noescape
func spin(units *uint64, n uint64)
