package cgroupfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unlimited is the value of a memory or pids limit that writes "max".
const Unlimited int64 = -1

// CPUMax is a CFS bandwidth limit: at most Quota of CPU time per Period.
// A zero Quota is no limit ("max").
type CPUMax struct {
	Quota, Period time.Duration
}

// Limits are the resource limits of one group (runtime.md §7.6). A zero
// field or nil pointer is unset; a block (cpu, memory, io, pids) with any
// member set has all its files written, unset members getting the
// kernel's default.
type Limits struct {
	CPUWeight int     // 1..10000
	CPUMax    *CPUMax // quota 1ms.., period 1ms..1s
	// Memory limits in bytes, or Unlimited.
	MemoryMax, MemoryHigh, MemoryLow, MemorySwapMax *int64
	IOWeight                                        int    // 1..10000
	PidsMax                                         *int64 // 1.., or Unlimited
	Mems                                            []int  // cpuset.mems
}

func (l Limits) cpu() bool { return l.CPUWeight != 0 || l.CPUMax != nil }
func (l Limits) memory() bool {
	return l.MemoryMax != nil || l.MemoryHigh != nil || l.MemoryLow != nil || l.MemorySwapMax != nil
}

// Controllers lists the controllers the limits need, in a fixed order.
func (l Limits) Controllers() []string {
	var out []string
	if len(l.Mems) > 0 {
		out = append(out, "cpuset")
	}
	if l.cpu() {
		out = append(out, "cpu")
	}
	if l.memory() {
		out = append(out, "memory")
	}
	if l.IOWeight != 0 {
		out = append(out, "io")
	}
	if l.PidsMax != nil {
		out = append(out, "pids")
	}
	return out
}

// Validate checks every set member against the range the kernel takes,
// naming the parameter and the range.
func (l Limits) Validate() error {
	if l.CPUWeight != 0 && (l.CPUWeight < 1 || l.CPUWeight > 10000) {
		return fmt.Errorf("cpu_weight = %d is out of range (allowed: 1..10000)", l.CPUWeight)
	}
	if c := l.CPUMax; c != nil {
		if c.Period < time.Millisecond || c.Period > time.Second {
			return fmt.Errorf("cpu_max: period = %v is out of range (allowed: 1ms..1s)", c.Period)
		}
		if c.Quota < time.Millisecond {
			return fmt.Errorf("cpu_max: quota = %v is out of range (allowed: 1ms or more; leave cpu_max unset for no limit)", c.Quota)
		}
	}
	for _, m := range []struct {
		name string
		v    *int64
	}{{"memory_max", l.MemoryMax}, {"memory_high", l.MemoryHigh}, {"memory_low", l.MemoryLow}, {"memory_swap_max", l.MemorySwapMax}} {
		if m.v != nil && *m.v < 0 && *m.v != Unlimited {
			return fmt.Errorf("%s = %d is out of range (allowed: 0 bytes or more, or unlimited)", m.name, *m.v)
		}
	}
	if l.IOWeight != 0 && (l.IOWeight < 1 || l.IOWeight > 10000) {
		return fmt.Errorf("io_weight = %d is out of range (allowed: 1..10000)", l.IOWeight)
	}
	if p := l.PidsMax; p != nil && *p < 1 && *p != Unlimited {
		return fmt.Errorf("pids_max = %d is out of range (allowed: 1 or more, or unlimited)", *p)
	}
	return nil
}

func limitString(v *int64, unset string) string {
	switch {
	case v == nil:
		return unset
	case *v == Unlimited:
		return "max"
	}
	return strconv.FormatInt(*v, 10)
}

// needs names the parameters that need each controller, for errors.
var needs = map[string]string{
	"cpuset": "cpuset_mems", "cpu": "cpu_weight and cpu_max", "memory": "memory_max, memory_high, memory_low and memory_swap_max",
	"io": "io_weight", "pids": "pids_max",
}

// SetLimits validates l, enables exactly the controllers it needs in the
// parent's cgroup.subtree_control (and above), and writes it: cpuset.mems
// first (before any task moves in), then cpu.weight and cpu.max,
// memory.max, .high, .low and .swap.max (only if set), io.weight,
// pids.max. A controller the hierarchy lacks is a *ControllerError naming
// it and the parameters that need it.
func (m *Manager) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if cs := l.Controllers(); len(cs) > 0 {
		if err := m.Parent().EnableControllers(cs...); err != nil {
			var ce *ControllerError
			if errors.As(err, &ce) {
				var what []string
				for _, c := range ce.Controllers {
					what = append(what, needs[c])
				}
				return fmt.Errorf("%s need(s) controller %s: %w", strings.Join(what, "; "), strings.Join(ce.Controllers, ", "), err)
			}
			return err
		}
	}
	if len(l.Mems) > 0 {
		if err := m.SetMems(l.Mems); err != nil {
			return err
		}
	}
	var writes [][2]string
	if l.cpu() {
		if l.CPUWeight != 0 {
			writes = append(writes, [2]string{"cpu.weight", strconv.Itoa(l.CPUWeight)})
		}
		max := "max 100000"
		if c := l.CPUMax; c != nil {
			max = fmt.Sprintf("%d %d", c.Quota.Microseconds(), c.Period.Microseconds())
		}
		writes = append(writes, [2]string{"cpu.max", max})
	}
	if l.memory() {
		writes = append(writes,
			[2]string{"memory.max", limitString(l.MemoryMax, "max")},
			[2]string{"memory.high", limitString(l.MemoryHigh, "max")},
			[2]string{"memory.low", limitString(l.MemoryLow, "0")})
		if l.MemorySwapMax != nil {
			writes = append(writes, [2]string{"memory.swap.max", limitString(l.MemorySwapMax, "")})
		}
	}
	if l.IOWeight != 0 {
		writes = append(writes, [2]string{"io.weight", strconv.Itoa(l.IOWeight)})
	}
	if l.PidsMax != nil {
		writes = append(writes, [2]string{"pids.max", limitString(l.PidsMax, "")})
	}
	for _, w := range writes {
		if err := m.write(w[0], w[1]); err != nil {
			return err
		}
	}
	return nil
}
