// Package cpulist parses and formats the kernel's CPU list format
// ("0-3,8,10-11"), shared by workload (affinity, topology) and cgroupfs
// (cpuset.cpus, cpuset.mems), which must not import each other's logic.
package cpulist

import (
	"fmt"
	"slices"
	"strings"
)

// Parse parses a CPU (or node) list such as "0-3,8,10-11" into ids in the
// order written. Surrounding white space, including the trailing newline of
// a sysfs or cgroupfs file, is ignored; an empty list is valid.
func Parse(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	var out []int
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		var lo, hi int
		if n, err := fmt.Sscanf(part, "%d-%d", &lo, &hi); err == nil && n == 2 {
			if hi < lo {
				return nil, fmt.Errorf("cpu list %q: range %q runs backwards", s, part)
			}
		} else if _, err := fmt.Sscanf(part, "%d", &lo); err == nil {
			hi = lo
		} else {
			return nil, fmt.Errorf("cpu list %q: cannot parse %q", s, part)
		}
		if lo < 0 {
			return nil, fmt.Errorf("cpu list %q: negative id in %q", s, part)
		}
		for c := lo; c <= hi; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// Format renders ids in the kernel's list format, sorted, without
// duplicates, merging runs ("0-3,5,7-9"). An empty set renders as "".
func Format(ids []int) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	s = slices.Compact(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", s[i], s[j])
		} else {
			fmt.Fprintf(&b, "%d", s[i])
		}
		i = j + 1
	}
	return b.String()
}
