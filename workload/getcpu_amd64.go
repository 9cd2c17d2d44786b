package workload

// hasRDTSCP reports whether the CPU has RDTSCP.
func hasRDTSCP() bool

// rdtscpCPU returns the CPU number Linux keeps in TSC_AUX.
func rdtscpCPU() int

// cpuReader returns how this worker reads its CPU at checkpoints: RDTSCP,
// as the vDSO does, when the kernel keeps the CPU number in TSC_AUX (it
// agrees with getcpu(2) here), else the system call. The syscall cost
// about a quarter of a CachePressure iteration.
func cpuReader() func() int {
	if !hasRDTSCP() {
		return getcpu
	}
	// The thread may migrate between the two reads; agreement once is
	// enough to know TSC_AUX carries the CPU number.
	for range 3 {
		if getcpu() == rdtscpCPU() {
			return rdtscpCPU
		}
	}
	return getcpu
}
