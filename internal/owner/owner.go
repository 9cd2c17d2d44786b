// Package owner identifies the ktstar process that made something a run
// leaves behind if it is killed (a cgroup, a scratch file), so that a
// later run can tell for certain whether its maker is gone.
//
// A pid alone cannot say so: pids are reused, and they are local to a pid
// namespace, so a run under `unshare -p -f` is pid 1 and sees none of the
// host's pids. An ID therefore records the boot, the pid namespace (the
// inode of /proc/self/ns/pid), the pid and its start time as that
// namespace sees them, and a random run id. [ID.Gone] answers "gone" only
// when that is provable from here: another boot, or the same namespace
// with no such process (or a different one under that pid). An owner in
// another namespace is never judged gone.
package owner

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
)

// ID is one run's identity.
type ID struct {
	Boot  string // the first 8 hex digits of /proc/sys/kernel/random/boot_id
	PidNS uint64 // inode of /proc/self/ns/pid
	Pid   int    // as the owner's pid namespace numbers it
	Start uint64 // start time, clock ticks since boot (/proc/PID/stat field 22)
	Run   string // 8 random hex digits
}

// Self returns the calling process's identity with a fresh run id.
func Self() (ID, error) {
	boot, err := bootID()
	if err != nil {
		return ID{}, err
	}
	ns, err := pidNS()
	if err != nil {
		return ID{}, err
	}
	pid := os.Getpid()
	start, err := startTime(pid)
	if err != nil {
		return ID{}, err
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return ID{}, fmt.Errorf("owner: random run id: %w", err)
	}
	return ID{Boot: boot, PidNS: ns, Pid: pid, Start: start, Run: hex.EncodeToString(r[:])}, nil
}

// String encodes id for a file name or an xattr:
// <boot>.<pidns>.<pid>.<start>.<run>, only digits, hex and dots.
func (id ID) String() string {
	return fmt.Sprintf("%s.%d.%d.%d.%s", id.Boot, id.PidNS, id.Pid, id.Start, id.Run)
}

// Parse decodes what String made.
func Parse(s string) (ID, error) {
	f := strings.Split(s, ".")
	if len(f) != 5 || !isHex(f[0], 8) || !isHex(f[4], 8) {
		return ID{}, fmt.Errorf("owner: %q is not boot.pidns.pid.start.run", s)
	}
	ns, err1 := strconv.ParseUint(f[1], 10, 64)
	pid, err2 := strconv.Atoi(f[2])
	start, err3 := strconv.ParseUint(f[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || pid <= 0 {
		return ID{}, fmt.Errorf("owner: %q is not boot.pidns.pid.start.run", s)
	}
	return ID{Boot: f[0], PidNS: ns, Pid: pid, Start: start, Run: f[4]}, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Gone reports whether id's process has provably ended: it belonged to
// another boot, or it lived in the caller's pid namespace and that pid is
// now free, a zombie, or a process started at another time. Anything
// that cannot be checked from here (another namespace, a /proc of another
// namespace, an unreadable /proc) counts as alive.
func (id ID) Gone() bool {
	boot, err := bootID()
	if err != nil {
		return false
	}
	if id.Boot != boot {
		return true
	}
	if ns, err := pidNS(); err != nil || ns != id.PidNS || !procIsOurs() {
		return false
	}
	start, err := startTime(id.Pid)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && start != id.Start
}

// procIsOurs reports whether /proc numbers pids as our namespace does
// (unshare -p without --mount-proc leaves the parent's /proc).
func procIsOurs() bool {
	s, err := os.Readlink("/proc/self")
	return err == nil && s == strconv.Itoa(os.Getpid())
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("owner: boot id: %w", err)
	}
	s := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if !isHex(s[:min(8, len(s))], 8) {
		return "", fmt.Errorf("owner: boot id %q is not hex", b)
	}
	return s[:8], nil
}

func pidNS() (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("owner: pid namespace: %w", err)
	}
	return st.Ino, nil
}

// startTime reads the start time (field 22) of /proc/PID/stat; a zombie
// or dead task is os.ErrNotExist.
func startTime(pid int) (uint64, error) {
	proc, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, err
	}
	return startTimeIn(proc, pid)
}

// startTimeIn is startTime over a /proc tree. prometheus/procfs parses
// stat correctly: comm may hold spaces and parentheses.
func startTimeIn(proc procfs.FS, pid int) (uint64, error) {
	p, err := proc.Proc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	switch st.State {
	case "Z", "X", "x":
		return 0, fmt.Errorf("pid %d is a zombie: %w", pid, os.ErrNotExist)
	}
	return st.Starttime, nil
}
