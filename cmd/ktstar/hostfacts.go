package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ktstar/ktstar/scheduler"
	"golang.org/x/sys/unix"
)

// schedFacts are the host facts a scheduler's behaviour depends on, read
// before the script starts (after --scheduler is ready), so they describe
// the run rather than its aftermath.
type schedFacts struct {
	Cmdline    string            `json:"kernel_cmdline"`
	Preemption string            `json:"preemption"` // none, voluntary, full, lazy, rt, dynamic (MODE), or "" unknown
	CgroupMode string            `json:"cgroup_mode"`
	SchedExt   scheduler.State   `json:"sched_ext"`
	Tunables   map[string]string `json:"sched_tunables"` // kernel.sched_* sysctls that exist
	// Scheduler is the one --scheduler started ("" without one).
	Scheduler string `json:"scheduler,omitempty"`
}

// readSchedFacts reads what it can; a fact that cannot be read stays empty.
func readSchedFacts(schedName string) schedFacts {
	f := schedFacts{Scheduler: schedName, Tunables: map[string]string{}}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		f.Cmdline = strings.TrimSpace(string(b))
	}
	f.Preemption = preemption()
	f.CgroupMode = cgroupMode("/sys/fs/cgroup")
	if st, err := scheduler.ReadState(os.DirFS(scheduler.SysFS)); err == nil {
		f.SchedExt = st
	} else {
		f.SchedExt = scheduler.State{State: err.Error()}
	}
	paths, _ := filepath.Glob("/proc/sys/kernel/sched_*")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Tunables["kernel."+filepath.Base(p)] = strings.TrimSpace(string(b))
		}
	}
	return f
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

// inCharge names the scheduler in charge for the summary's header.
func (f schedFacts) inCharge() string {
	ext := f.SchedExt
	switch {
	case ext.State == "":
		return "" // a result saved before ktstar read these facts
	case f.Scheduler != "" && ext.State == "enabled":
		return fmt.Sprintf("%s (sched_ext, ops %s)", f.Scheduler, ext.Ops)
	case f.Scheduler != "":
		return fmt.Sprintf("%s (sched_ext %s)", f.Scheduler, ext.State)
	case ext.State == "enabled":
		return fmt.Sprintf("sched_ext ops %s", ext.Ops)
	case ext.State == scheduler.NoSchedExt:
		return "the kernel's own (no sched_ext)"
	default:
		return fmt.Sprintf("the kernel's own (sched_ext %s)", ext.State)
	}
}
