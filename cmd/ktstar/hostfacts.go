package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/scheduler"
	"golang.org/x/sys/unix"
)

// readSchedFacts fills in h the facts a scheduler's behaviour depends
// on and the scheduler in charge (schedName is --scheduler's, "" without
// one); a fact that cannot be read stays empty.
func readSchedFacts(h *result.Host, schedName string) {
	h.Tunables = map[string]string{}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		h.Cmdline = strings.TrimSpace(string(b))
	}
	h.Preemption = preemption()
	h.CgroupMode = cgroupMode("/sys/fs/cgroup")
	if st, err := scheduler.ReadState(os.DirFS(scheduler.SysFS)); err == nil {
		h.SchedExt = st
	} else {
		h.SchedExt = scheduler.State{State: err.Error()}
	}
	h.Scheduler = inCharge(schedName, h.SchedExt)
	paths, _ := filepath.Glob("/proc/sys/kernel/sched_*")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			h.Tunables["kernel."+filepath.Base(p)] = strings.TrimSpace(string(b))
		}
	}
}

// preemption is the kernel's preemption model: debugfs's sched/preempt
// names the dynamic one's current mode ("none voluntary (full) lazy");
// without it, uname's version string says how the kernel was built.
func preemption() string {
	if b, err := os.ReadFile("/sys/kernel/debug/sched/preempt"); err == nil {
		for _, m := range strings.Fields(string(b)) {
			if strings.HasPrefix(m, "(") {
				return "dynamic (" + strings.Trim(m, "()") + ")"
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	v := unix.ByteSliceToString(u.Version[:])
	for _, m := range []struct{ tag, model string }{
		{"PREEMPT_RT", "rt"}, {"PREEMPT_DYNAMIC", "dynamic"}, {"PREEMPT_LAZY", "lazy"}, {"PREEMPT ", "full"},
	} {
		if strings.Contains(v+" ", m.tag) {
			return m.model
		}
	}
	return "none or voluntary"
}

// cgroupMode tells a pure v2 hierarchy at root from a hybrid one (v1
// controllers and a v2 "unified" mount) and a v1-only one.
func cgroupMode(root string) string {
	var st unix.Statfs_t
	if unix.Statfs(root, &st) != nil {
		return ""
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs(filepath.Join(root, "unified"), &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	return "v1"
}

// inCharge names the scheduler in charge, for the host facts and the
// summary's header: name is --scheduler's ("" without one), ext
// sched_ext's state when the script started.
func inCharge(name string, ext scheduler.State) string {
	switch {
	case ext.State == "":
		return "" // the state could not be read
	case name != "" && ext.State == "enabled":
		return fmt.Sprintf("%s (sched_ext, ops %s)", name, ext.Ops)
	case name != "":
		return fmt.Sprintf("%s (sched_ext %s)", name, ext.State)
	case ext.State == "enabled":
		return fmt.Sprintf("sched_ext ops %s", ext.Ops)
	case ext.State == scheduler.NoSchedExt:
		return "the kernel's own (no sched_ext)"
	default:
		return fmt.Sprintf("the kernel's own (sched_ext %s)", ext.State)
	}
}
