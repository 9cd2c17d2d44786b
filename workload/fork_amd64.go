package workload

import (
	"bytes"
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// forkExit forks a child that calls exit_group(0) at once; see fork_amd64.s.
func forkExit() (pid int, errno uintptr)

// addressShrinker marks every private writable mapping of the worker
// (Go's heap, stacks, data and bss) MADV_DONTFORK. forkExit's child runs
// four instructions and exit_group and reads no memory but its text, so
// each fork then copies an address space about as small as a C loop's,
// and the worker's own writes between forks take no copy-on-write fault.
// It runs when the body is made and again at its first step, without
// allocating: the runtime makes threads in between (at the start gate,
// for the hand-off before the loop), and a stack mapped later would be
// copied, and faulted on, at every fork. A mapping that refuses the
// advice (a special one) is skipped.
type addressShrinker struct {
	maps int    // /proc/self/maps, open for the life of the body
	buf  []byte // lines of it, read in pieces
}

// open opens /proc/self/maps and marks what is mapped now.
func (s *addressShrinker) open() error {
	fd, err := unix.Open("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	s.maps, s.buf = fd, make([]byte, 64<<10)
	return s.shrink()
}

// shrink marks every private writable mapping, reading the file afresh.
func (s *addressShrinker) shrink() error {
	if _, err := unix.Seek(s.maps, 0, io.SeekStart); err != nil {
		return err
	}
	kept := 0 // the start of a line cut by the last read
	for {
		n, err := unix.Read(s.maps, s.buf[kept:])
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		rest := s.buf[:kept+n]
		for i := bytes.IndexByte(rest, '\n'); i >= 0; i = bytes.IndexByte(rest, '\n') {
			dontForkWritable(rest[:i])
			rest = rest[i+1:]
		}
		if kept = copy(s.buf, rest); kept == len(s.buf) {
			return errLongMapsLine
		}
	}
}

var errLongMapsLine = errors.New("a line of /proc/self/maps longer than 64 KiB")

// close closes the file.
func (s *addressShrinker) close() { unix.Close(s.maps) }

// dontForkWritable advises MADV_DONTFORK for the mapping of one maps line
// ("start-end perms ...") when it is private and writable.
func dontForkWritable(line []byte) {
	var start, end uint64
	i := 0
	for ; i < len(line) && line[i] != '-'; i++ {
		start = start<<4 | hexVal(line[i])
	}
	for i++; i < len(line) && line[i] != ' '; i++ {
		end = end<<4 | hexVal(line[i])
	}
	if perms := line[min(i+1, len(line)):]; len(perms) < 4 || perms[1] != 'w' || perms[3] != 'p' || end <= start {
		return
	}
	unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTFORK)
}

// hexVal is the value of one lower-case hex digit.
func hexVal(c byte) uint64 {
	if c >= 'a' {
		return uint64(c-'a') + 10
	}
	return uint64(c - '0')
}
