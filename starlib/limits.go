package starlib

import (
	"fmt"
	"time"

	"github.com/ktstar/ktstar/cgroupfs"
	"go.starlark.net/starlark"
)

// limitParams are the keywords of cgroup.create that set resource limits
// (runtime.md §7.6), in the order the doc lists them.
var limitParams = []string{"cpu_weight", "cpu_max", "memory_max", "memory_high", "memory_low", "memory_swap_max", "io_weight", "pids_max", "cpuset_mems"}

// parseLimits reads the limit keywords of kw (None leaves one unset) and
// validates them.
func parseLimits(kw map[string]starlark.Value) (cgroupfs.Limits, error) {
	var l cgroupfs.Limits
	counts := map[string]**int64{
		"memory_max": &l.MemoryMax, "memory_high": &l.MemoryHigh, "memory_low": &l.MemoryLow,
		"memory_swap_max": &l.MemorySwapMax, "pids_max": &l.PidsMax,
	}
	for _, name := range limitParams {
		v, ok := kw[name]
		if !ok || v == starlark.None {
			continue
		}
		var err error
		switch name {
		case "cpu_weight":
			l.CPUWeight, err = weightOf(v)
		case "io_weight":
			l.IOWeight, err = weightOf(v)
		case "cpu_max":
			l.CPUMax, err = cpuMaxOf(v)
		case "memory_max", "memory_high", "memory_low", "memory_swap_max", "pids_max":
			*counts[name], err = maxOf(v)
		case "cpuset_mems":
			var c cpuListParam
			err = c.Unpack(v)
			if err == nil && len(c) == 0 {
				err = fmt.Errorf("the node list is empty; leave cpuset_mems unset for the parent's nodes")
			}
			l.Mems = c
		}
		if err != nil {
			return l, fmt.Errorf("%s: %w", name, err)
		}
	}
	return l, l.Validate()
}

// weightOf reads a weight; 0, which Limits takes for unset, is refused
// here as out of range.
func weightOf(v starlark.Value) (int, error) {
	var w int
	if err := starlark.AsInt(v, &w); err != nil {
		return 0, fmt.Errorf("want an int in 1..10000, got %s", v.Type())
	}
	if w == 0 {
		return 0, fmt.Errorf("0 is out of range (allowed: 1..10000)")
	}
	return w, nil
}

// maxOf reads a byte or task count, or "max" for no limit.
func maxOf(v starlark.Value) (*int64, error) {
	if s, ok := v.(starlark.String); ok {
		if s != "max" {
			return nil, fmt.Errorf("want an int or \"max\", got %q", string(s))
		}
		n := cgroupfs.Unlimited
		return &n, nil
	}
	var n int64
	if err := starlark.AsInt(v, &n); err != nil {
		return nil, fmt.Errorf("want an int or \"max\", got %s", v.Type())
	}
	if n < 0 {
		return nil, fmt.Errorf("%d is out of range (allowed: 0 or more, or \"max\")", n)
	}
	return &n, nil
}

// cpuMaxOf reads (quota, period), each a duration or a string like "20ms".
func cpuMaxOf(v starlark.Value) (*cgroupfs.CPUMax, error) {
	t, ok := v.(starlark.Tuple)
	if !ok || len(t) != 2 {
		if l, isList := v.(*starlark.List); isList && l.Len() == 2 {
			t = starlark.Tuple{l.Index(0), l.Index(1)}
		} else {
			return nil, fmt.Errorf("want (quota, period), e.g. (\"20ms\", \"100ms\"), got %s", v)
		}
	}
	var q, p durationParam
	if err := q.Unpack(t[0]); err != nil {
		return nil, fmt.Errorf("quota: %w", err)
	}
	if err := p.Unpack(t[1]); err != nil {
		return nil, fmt.Errorf("period: %w", err)
	}
	return &cgroupfs.CPUMax{Quota: time.Duration(q), Period: time.Duration(p)}, nil
}
