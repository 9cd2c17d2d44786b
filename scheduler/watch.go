package scheduler

import (
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// KmsgPath is the kernel log Watch reads a disable reason from.
const KmsgPath = "/dev/kmsg"

// WatchPeriod is how often a scenario's hold checks its scheduler.
const WatchPeriod = 50 * time.Millisecond

// Watch follows a scheduler through a scenario: the process must stay
// alive and sched_ext keep the state and ops it had when the watch began.
type Watch struct {
	P    *Process
	fs   fs.FS
	kmsg func() ([]string, error)
	base State
	// logged is how many kernel log records there were when the watch
	// began: a disable reason is looked for only after them, so an older
	// disable (an earlier run in the same kernel) is never taken for this
	// one's.
	logged int
}

// ReasonWait bounds how long Check waits for the kernel's disable message
// once sched_ext left "enabled": the kernel marks itself "disabling"
// before it prints why, and "disabled" only after.
const ReasonWait = time.Second

// reasonPoll is how often Check rereads the kernel log meanwhile.
const reasonPoll = 10 * time.Millisecond

// NewWatch starts watching p, taking sched_ext's state now as the one it
// must keep; kmsg reads the kernel log (ReadKmsg of KmsgPath on a live
// system, a fixture in tests).
func NewWatch(p *Process, fsys fs.FS, kmsg func() ([]string, error)) (*Watch, error) {
	base, err := ReadState(fsys)
	if err != nil {
		return nil, err
	}
	w := &Watch{P: p, fs: fsys, kmsg: kmsg, base: base}
	if msgs, err := kmsg(); err == nil {
		w.logged = len(msgs)
	}
	return w, nil
}

// Base is the state the watch holds sched_ext to.
func (w *Watch) Base() State { return w.base }

// Check returns nil while all is well, else what went wrong, for a
// message that goes on "during step k": "scheduler NAME died" with how
// and its last output line, or "sched_ext disabled" with the kernel's
// reason.
func (w *Watch) Check() *Fault {
	var sx *Fault
	now, err := ReadState(w.fs)
	if cerr := Change(w.base, now, err); cerr != nil {
		sx = &Fault{Kind: "sched_ext", What: "sched_ext changed", Reason: cerr.Error()}
		// Disabling or disabled: either way the kernel threw the BPF
		// scheduler out.
		if w.base.State == "enabled" && (now.State == "disabling" || now.State == "disabled") {
			sx.What = "sched_ext disabled"
			if r := w.disableReason(); r != "" {
				sx.Reason = r
			}
		}
	}
	// A scheduler that exits unregisters itself: then its death is the
	// news, not the kernel's consequence of it.
	if !w.P.Alive() && (sx == nil || strings.Contains(sx.Reason, "unregistered from user space")) {
		f := &Fault{Kind: "died", What: "scheduler " + w.P.Name + " died", Reason: w.P.ExitStatus()}
		if l := w.P.LastLines(1); len(l) == 1 {
			f.LastLine = l[0]
		}
		return f
	}
	return sx
}

// Fault is what a Watch found wrong.
type Fault struct {
	Kind     string `json:"kind"`   // "died" or "sched_ext"
	What     string `json:"what"`   // "scheduler NAME died", "sched_ext disabled"
	Reason   string `json:"reason"` // the exit status, or the kernel's reason
	LastLine string `json:"last_line,omitempty"`
}

// Message is the failure of step k: "scheduler NAME died during step k
// (exit status 3); its last output line: ..." or "sched_ext disabled
// during step k: REASON".
func (f *Fault) Message(k int) string {
	if f.Kind == "died" {
		msg := fmt.Sprintf("%s during step %d", f.What, k)
		if f.Reason != "" {
			msg += " (" + f.Reason + ")"
		}
		if f.LastLine != "" {
			msg += "; its last output line: " + f.LastLine
		}
		return msg
	}
	return fmt.Sprintf("%s during step %d: %s", f.What, k, f.Reason)
}

// disableReason waits, at most ReasonWait, for the kernel's message on why
// sched_ext was disabled since the watch began; "" without one.
func (w *Watch) disableReason() string {
	deadline := time.Now().Add(ReasonWait)
	for {
		if msgs, err := w.kmsg(); err == nil {
			if w.logged <= len(msgs) {
				msgs = msgs[w.logged:] // else the log wrapped: read it all
			}
			if r := DisableReason(msgs); r != "" {
				return r
			}
		}
		if !time.Now().Before(deadline) {
			return ""
		}
		time.Sleep(reasonPoll)
	}
}
