package workload

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The spawn protocol between the parent (Spawn and its Handle) and one
// worker process, modelled on runc's libcontainer/sync.go. Every message
// on the report pipe is one byte; only the last two carry a payload, which
// runs until EOF (the worker's exit).
//
//	parent                                        worker
//	memfd, pipes; exec /proc/self/exe ─────────►  KTSTAR_WORKER=1: Init()
//	spec (JSON) on fdSpec, then EOF   ─────────►  read spec, mmap fdShm
//	                                              affinity, policy, mempolicy, nice, comm, gid, uid, node, Type.New
//	Spawn returns once all parked     ◄─────────  msgParked          (or msgError + text)
//	  and sets the gate word gateParked ────────►  the gate limit starts
//	Start: stamp the time, gate word  ─────────►  gate opens         (gateCancel: exit quietly)
//	  = gateOpen, FUTEX_WAKE(gateFanout)          each woken worker wakes gateFanout more
//	                                  ◄─────────  msgReleased; the loop runs
//	                                              (or msgError + text: no start in time)
//	Stop: stop word = 1, SIGUSR1      ─────────►  loop ends
//	                                  ◄─────────  report (JSON), EOF at exit
//	collect; SIGKILL the process group after the deadline; reap
//
// The parent's reader accepts only the message the protocol allows next;
// anything else is an error naming the byte, and the worker is killed.
//
// A thread host (host.go) runs the same protocol once per worker thread,
// each on a report pipe of its own that the thread closes after its
// report; the host exits, and is reaped, after the last.

// workerEnv marks a re-exec'd worker process. Its value is the protocol
// version, so a mismatched binary fails loudly instead of misreading fds.
const (
	workerEnv    = "KTSTAR_WORKER"
	protoVersion = "2"
)

// File descriptors of a worker process, in the order Spawn passes them
// (0 is /dev/null, 1 and 2 the parent's stderr).
const (
	fdSpec   = 3 // worker spec, JSON, then EOF
	fdShm    = 4 // the handle's shared memfd (see shmLayout); its gate word is the start gate
	fdReport = 5 // msgParked, msgReleased, then the JSON report; or msgError + text
	fdPipeR  = 6 // types with Type.Pipes: read end from the ring's previous member
	fdPipeW  = 7 // types with Type.Pipes: write end to the next member
	// The group's GroupFiles follow: from fd 8 with pipes, from fd 6 without.
)

// msg is one protocol message byte.
type msg byte

// Protocol messages.
const (
	msgParked   msg = 'p' // worker → parent: settings applied, waiting at the gate
	msgError    msg = 'e' // worker → parent: failed before parking; the error text follows
	msgReleased msg = 'r' // worker → parent: the gate opened; the report follows at the end
)

// String names the message for errors, e.g. `'p' (parked)`.
func (m msg) String() string {
	names := map[msg]string{msgParked: "parked", msgError: "error", msgReleased: "released"}
	if n, ok := names[m]; ok {
		return fmt.Sprintf("%q (%s)", rune(m), n)
	}
	return fmt.Sprintf("%q (0x%02x, not a protocol message)", rune(m), byte(m))
}

// errUnexpected is wrapped by every error for a message the protocol does
// not allow at that point.
var errUnexpected = errors.New("unexpected message")

// readMsg reads one message byte and checks it is one of want. It returns
// io.EOF when the worker closed the pipe (exited) before sending one.
func readMsg(r io.Reader, want ...msg) (msg, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	m := msg(b[0])
	for _, w := range want {
		if m == w {
			return m, nil
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = w.String()
	}
	return m, fmt.Errorf("protocol: %w %s from the worker (want %s)", errUnexpected, m, strings.Join(names, " or "))
}

// Deadlines of the stop protocol (ktstr's constants, §4.14).
const (
	parkLimit      = 30 * time.Second // every worker must reach the start gate
	startGateLimit = 30 * time.Second // a parked worker waits this long for the gate to open
	releaseLimit   = 5 * time.Second  // auto-start: workers enter their loop
	collectLimit   = 5 * time.Second  // shared by all workers, then SIGKILL
	reapLimit      = 3 * time.Second  // after SIGKILL, then give up on a stuck task
	// exitLimit bounds the wait for a SIGKILLed worker that is still
	// exiting (a task runnable, only waiting for a CPU) past reapLimit:
	// the starvation the start tolerates too (parkLimit).
	exitLimit = parkLimit
	exitPoll  = 100 * time.Millisecond // how often that wait checks it is still exiting
	// interruptGrace replaces what is left of collectLimit when a stop is
	// interrupted (StopAndCollectContext): a worker that answers at all
	// answers within it (one in an fdatasync on a busy disk took over
	// 500 ms), and the interrupted run still ends within a second.
	interruptGrace = 800 * time.Millisecond
)

// Shared memory of a handle: one memfd, mapped MAP_SHARED by the parent
// and every worker.
//
//	offset 0                   stop word (u32): non-zero tells every worker to stop
//	offset 4                   gate word (u32): gateClosed, gateOpen or gateCancel; a futex
//	offset 8                   start stamp (i64): CLOCK_MONOTONIC ns when the gate opened
//	offset 16                  parked stamp (i64): when every worker had parked
//	offset 24                  phase epoch word (u32): the scenario's phase (SetPhaseEpoch); each
//	                           worker cuts its telemetry into a PhaseSlice when it changes
//	offset slotBase + 64·i     worker i's published iteration count (u64), one cache line each;
//	                           at +slotPid its pid (u64), written by the parent once it started it
//	                           (i counts across composed groups: group 0's workers first)
//	regionBase + stride·g      group g's shared Region (futex words), page-aligned, zero-filled;
//	                           each composed group's Regions follow the previous one's
const (
	offStop     = 0
	offGate     = 4
	offStartNs  = 8
	offParkedNs = 16
	offEpoch    = 24
	slotBase    = 64
	slotBytes   = 64
	slotPid     = 8 // offset of the worker's pid inside its slot
	pageSize    = 4096
)

// shmLayout is where everything of one handle lives in its shared memory.
// It is pure arithmetic, shared by Spawn and the in-process group tests.
type shmLayout struct {
	Size       int // bytes to map
	regionBase int // offset of group 0's Region
	stride     int // bytes between two groups' Regions; 0 when the type has none
}

// newLayout lays out the memory of workers workers of type t, in groups
// of groupSize (0 or 1: ungrouped).
func newLayout(workers, groupSize int, t *Type) shmLayout {
	return newLayouts([]groupShape{{workers, groupSize, t}})[0]
}

// groupShape is what the memory layout needs of one composed group.
type groupShape struct {
	workers, groupSize int
	t                  *Type
}

// newLayouts lays out the memory of a spawn's composed groups, in order:
// every worker's slot first (group 0's, then group 1's, …), then each
// group's Regions. Slot takes the worker's index across all groups.
func newLayouts(groups []groupShape) []shmLayout {
	total := 0
	for _, g := range groups {
		total += g.workers
	}
	off := alignPage(slotBase + slotBytes*total)
	out := make([]shmLayout, len(groups))
	for i, g := range groups {
		out[i].regionBase = off
		if g.t.Region > 0 {
			out[i].stride = alignPage(g.t.Region)
			off += (g.workers / max(g.groupSize, 1)) * out[i].stride
		}
	}
	for i := range out {
		out[i].Size = off
	}
	return out
}

// Slot is the offset of worker i's progress slot.
func (l shmLayout) Slot(i int) int { return slotBase + slotBytes*i }

// Region is the offset of group g's shared region, 0 when the type has none.
func (l shmLayout) Region(g int) int {
	if l.stride == 0 {
		return 0
	}
	return l.regionBase + g*l.stride
}

// States of the gate word. Every worker waits on the one word, so opening
// the gate for any number of workers is one store and one FUTEX_WAKE.
const (
	gateClosed = 0 // Spawn is still starting workers: parked ones wait
	gateParked = 3 // every worker parked at the parked stamp: the gate limit runs from it
	gateOpen   = 1 // the run started at the start stamp
	gateCancel = 2 // the handle closed without starting: exit quietly
)

// gateFanout is how many waiters each wake of the gate word wakes: the
// parent wakes this many, and each worker that finds the gate open or
// cancelled wakes this many more before it goes on, so the wake spreads as
// a tree. One FUTEX_WAKE of every waiter from the parent would keep the
// parent in the kernel while each woken spinner preempts it: 28 s for
// 2,048 SpinWait workers on 2 CPUs.
const gateFanout = 4

func alignPage(n int) int { return (n + pageSize - 1) &^ (pageSize - 1) }
