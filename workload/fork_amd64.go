package workload

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// forkExit forks a child that calls exit_group(0) at once; see fork_amd64.s.
func forkExit() (pid int, errno uintptr)

// shrinkForkedAddressSpace marks every private writable mapping of the
// worker (Go's heap, stacks, data and bss) MADV_DONTFORK. forkExit's child
// runs four instructions and exit_group and reads no memory but its text,
// so each fork then copies an address space about as small as a C loop's,
// and the worker's own writes between forks take no copy-on-write fault.
// Mappings made later (a new heap arena) are copied as usual; a mapping
// that refuses the advice (a special one) is skipped.
func shrinkForkedAddressSpace() error {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || len(f[1]) < 4 || f[1][1] != 'w' || f[1][3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTFORK)
	}
	return nil
}
