package scheduler

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SysFS is where ReadState and ReadEvents look on a live system:
// os.DirFS(SysFS) is the fs.FS they take.
const SysFS = "/sys/kernel"

// NoSchedExt is the State of a kernel without sched_ext.
const NoSchedExt = "none"

// NoSchedExtMsg is what a check that needs sched_ext says without it.
const NoSchedExtMsg = "this kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT)"

// The states /sys/kernel/sched_ext/state shows (kernel/sched/ext.c's
// scx_enable_state_str).
var knownStates = []string{"enabling", "enabled", "disabling", "disabled"}

// State is sched_ext's state and, while a BPF scheduler is loaded, its
// ops name.
type State struct {
	State string `json:"state"`         // enabled, disabled, enabling, disabling, or NoSchedExt
	Ops   string `json:"ops,omitempty"` // root/ops: the BPF scheduler's name
}

func (s State) String() string {
	if s.Ops == "" {
		return s.State
	}
	return s.State + " (" + s.Ops + ")"
}

// ReadState reads sched_ext/state and sched_ext/root/ops below fsys (the
// kernel's sysfs /sys/kernel, see SysFS). A kernel without sched_ext is
// State NoSchedExt; a state ktstar does not know is an error naming it.
func ReadState(fsys fs.FS) (State, error) {
	b, err := fs.ReadFile(fsys, "sched_ext/state")
	if errors.Is(err, fs.ErrNotExist) {
		return State{State: NoSchedExt}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("sched_ext state: %w", err)
	}
	st := State{State: strings.TrimSpace(string(b))}
	if !isKnown(st.State) {
		return st, fmt.Errorf("sched_ext state %q: unknown (want one of %s)", st.State, strings.Join(knownStates, ", "))
	}
	if ops, err := fs.ReadFile(fsys, "sched_ext/root/ops"); err == nil {
		st.Ops = strings.TrimSpace(string(ops))
	}
	return st, nil
}

func isKnown(s string) bool {
	for _, k := range knownStates {
		if s == k {
			return true
		}
	}
	return false
}

// ReadEvents reads the kernel's sched_ext event counters
// (sched_ext/root/events, "NAME VALUE" lines, in kernels that expose
// them); nil when there are none.
func ReadEvents(fsys fs.FS) (map[string]int64, error) {
	f, err := fsys.Open("sched_ext/root/events")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sched_ext events: %w", err)
	}
	defer f.Close()
	ev := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sched_ext events: %s: %q is not a count", name, val)
		}
		ev[name] = n
	}
	return ev, sc.Err()
}

// Change compares the state at a step's start (base) with now: nil while
// sched_ext keeps the same state and ops, else an error saying what
// changed. An unknown state is a change too: it is reported, not ignored.
func Change(base, now State, readErr error) error {
	switch {
	case readErr != nil:
		return readErr
	case now == base:
		return nil
	case base.State == "enabled" && now.State != "enabled":
		return fmt.Errorf("sched_ext %s (was enabled with %q)", now.State, base.Ops)
	case now.State != base.State:
		return fmt.Errorf("sched_ext state changed from %s to %s", base, now)
	default:
		return fmt.Errorf("sched_ext ops changed from %q to %q", base.Ops, now.Ops)
	}
}

// DisableReason returns the kernel's words on why sched_ext was disabled,
// from kernel log messages (oldest first, see ReadKmsg): the last
// "sched_ext: ... disabled (REASON)" line and the sched_ext lines after it
// (the scheduler's own error message), at most three, joined with "; ".
// "" when no message says so.
func DisableReason(msgs []string) string {
	var sx []string
	last := -1
	for _, m := range msgs {
		text, ok := strings.CutPrefix(strings.TrimSpace(m), "sched_ext: ")
		if !ok {
			continue
		}
		if strings.Contains(text, " disabled") {
			last = len(sx)
		}
		sx = append(sx, text)
	}
	if last < 0 {
		return ""
	}
	return strings.Join(sx[last:min(len(sx), last+3)], "; ")
}

// ReadKmsg returns the text of every record the kernel log (/dev/kmsg,
// "PRI,SEQ,USEC,FLAGS;TEXT" records) holds now, oldest first, without
// waiting for more.
func ReadKmsg(path string) ([]string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("kernel log: %w", err)
	}
	defer unix.Close(fd)
	var msgs []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == unix.EPIPE:
			continue // records overwritten while reading: go on from the oldest left
		case err == unix.EAGAIN:
			return msgs, nil
		case err != nil:
			return msgs, fmt.Errorf("kernel log: %w", err)
		case n == 0:
			return msgs, nil
		}
		rec := string(buf[:n])
		if _, text, ok := strings.Cut(rec, ";"); ok {
			text, _, _ = strings.Cut(text, "\n") // continuation lines hold key=value metadata
			msgs = append(msgs, text)
		}
	}
}
