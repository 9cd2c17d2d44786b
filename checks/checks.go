// Package checks judges worker reports against thresholds: starvation,
// fairness, gaps, isolation, throughput, wake latency, migrations and NUMA
// placement (ktstr's worker checks). It is plain Go over workload.Report;
// the script's checks module is a thin layer over it.
//
// Thresholds come in layers (defaults, then a scenario's, then the call
// site's). Each layer is an [Assert]; [Assert.Merge] lets the later layer
// win check by check, and an explicit [Off] disables what a lower layer
// enabled.
package checks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ktstar/ktstar/workload"
)

// Kind says how a check's threshold reads.
type Kind int

// Check kinds.
const (
	Flag Kind = iota // on or off, no threshold
	Max              // the observed value must not exceed the threshold
	Min              // the observed value must not fall below the threshold
)

// Check is one entry of the check table, which drives evaluation order,
// validation, docs and the script's keyword arguments.
type Check struct {
	Name string
	Kind Kind
	Unit string // how values are shown: "ns" and "ms" as durations, "%", "ratio", or a rate unit
	// Bound is the largest threshold that makes sense (0 = unbounded); the
	// smallest is always 0.
	Bound float64
	Doc   string
	eval  func(u *Unit, limit float64) Outcome
}

// Defaults applied when not_starved is on and the check was not set.
const (
	DefaultMaxGapMs     = 2000
	DefaultMaxSpreadPct = 15
)

// table lists the checks in evaluation order (ktstr's §6.2 order, which
// fixes the order of failure messages).
var table = []Check{
	{Name: "not_starved", Kind: Flag, Unit: "workers", Doc: "every worker did some work; also turns on max_spread_pct 15 and max_gap_ms 2000 unless they are set", eval: evalStarved},
	{Name: "max_spread_pct", Kind: Max, Unit: "%", Bound: 100, Doc: "fairness: largest minus smallest off-CPU percentage among the workers", eval: evalSpread},
	{Name: "max_gap_ms", Kind: Max, Unit: "ms", Doc: "longest stretch between two checkpoints of any worker (a runnable worker that did not run)", eval: evalGap},
	{Name: "isolation", Kind: Flag, Unit: "workers", Doc: "every worker ran only on CPUs of its cgroup's cpuset", eval: evalIsolation},
	{Name: "max_throughput_cv", Kind: Max, Unit: "ratio", Doc: "coefficient of variation of work units per CPU-second across workers", eval: evalThroughputCV},
	{Name: "min_work_rate", Kind: Min, Unit: "work/cpu-s", Doc: "smallest work units per CPU-second of any worker", eval: evalWorkRate},
	{Name: "max_p99_wake_latency_ns", Kind: Max, Unit: "ns", Doc: "99th percentile of all wake-latency samples", eval: evalP99Of(wakeSource)},
	{Name: "max_wake_latency_cv", Kind: Max, Unit: "ratio", Doc: "coefficient of variation of all wake-latency samples", eval: evalWakeCV},
	{Name: "max_p99_timer_latency_ns", Kind: Max, Unit: "ns", Doc: "99th percentile of all timer-latency samples (how late timer_latency's deadlines woke)", eval: evalP99Of(timerSource)},
	{Name: "min_iteration_rate", Kind: Min, Unit: "iter/s", Doc: "smallest iterations per wall-clock second of any worker", eval: evalIterationRate},
	{Name: "max_migration_ratio", Kind: Max, Unit: "ratio", Doc: "CPU migrations per iteration, over all workers", eval: evalMigrationRatio},
	{Name: "min_page_locality", Kind: Min, Unit: "ratio", Bound: 1, Doc: "share of resident pages on the NUMA nodes of the unit's cpuset", eval: evalLocality},
	{Name: "max_cross_node_migration_ratio", Kind: Max, Unit: "ratio", Doc: "pages migrated between nodes (largest vmstat delta) per resident page", eval: evalCrossNode},
	{Name: "max_slow_tier_ratio", Kind: Max, Unit: "ratio", Bound: 1, Doc: "largest share of a worker's pages on nodes outside the cpuset's nodes", eval: evalSlowTier},
}

// All returns the check table in evaluation order.
func All() []Check { return slices.Clone(table) }

// Lookup finds a check by name.
func Lookup(name string) (Check, bool) {
	i := slices.IndexFunc(table, func(c Check) bool { return c.Name == name })
	if i < 0 {
		return Check{}, false
	}
	return table[i], true
}

// Setting is one layer's word on one check: on (flags), a threshold, or off.
type Setting struct {
	Off   bool
	Limit float64
}

// On enables a flag check.
func On() Setting { return Setting{} }

// Off disables a check that a lower layer enabled.
func Off() Setting { return Setting{Off: true} }

// Limit enables a threshold check with the given limit.
func Limit(v float64) Setting { return Setting{Limit: v} }

// Assert is one layer of settings, by check name. A check absent from the
// map inherits the lower layer's setting.
type Assert map[string]Setting

// Default is the baseline preset: not_starved, with its implied spread and
// gap limits.
func Default() Assert { return Assert{"not_starved": On()} }

// Merge returns a copy of a with every setting of b laid over it.
func (a Assert) Merge(b Assert) Assert {
	out := maps.Clone(a)
	if out == nil {
		out = Assert{}
	}
	maps.Copy(out, b)
	return out
}

// Validate checks names and thresholds, naming the check and the range.
func (a Assert) Validate() error {
	for _, name := range slices.Sorted(maps.Keys(a)) {
		c, ok := Lookup(name)
		if !ok {
			return fmt.Errorf("unknown check %q (checks: %s)", name, strings.Join(Names(), ", "))
		}
		s := a[name]
		if s.Off || c.Kind == Flag {
			continue
		}
		if !(s.Limit >= 0) || (c.Bound > 0 && s.Limit > c.Bound) {
			return fmt.Errorf("%s = %v is out of range (allowed: %s)", name, s.Limit, c.Range())
		}
	}
	return nil
}

// Range describes the allowed thresholds of a check in words.
func (c Check) Range() string {
	switch {
	case c.Kind == Flag:
		return "True or False"
	case c.Bound > 0:
		return fmt.Sprintf("0..%v, or False to turn it off", c.Bound)
	}
	return "0 or more, or False to turn it off"
}

// Names returns every check name in evaluation order.
func Names() []string {
	out := make([]string, len(table))
	for i, c := range table {
		out[i] = c.Name
	}
	return out
}

// effective resolves not_starved's implied limits.
func (a Assert) effective() Assert {
	out := maps.Clone(a)
	if s, ok := a["not_starved"]; ok && !s.Off {
		if _, set := a["max_spread_pct"]; !set {
			out["max_spread_pct"] = Limit(DefaultMaxSpreadPct)
		}
		if _, set := a["max_gap_ms"]; !set {
			out["max_gap_ms"] = Limit(DefaultMaxGapMs)
		}
	}
	return out
}

// Unit is the set of reports judged together: one group of one spawn, or
// the workers of one cgroup, with what is known of its placement.
type Unit struct {
	Name      string
	Reports   []workload.Report
	Cpuset    []int // the cgroup's cpuset; nil when none is recorded
	NumaNodes []int // NUMA nodes of the cpuset's CPUs; nil when unknown
	Cgroup    string
}

// Units splits reports into one unit per group_idx and, when the reports
// come from more than one cgroup, per cgroup: a scenario's workers judged
// cgroup by cgroup. Units are ordered by cgroup (first seen), then group.
// A unit is named "group N" when all reports share a cgroup; otherwise by
// its cgroup path (less the prefix every cgroup shares), followed by
// "group N" when that cgroup holds several groups, and its Cgroup is set so
// that the worst worker names it. A report without a cgroup (a sentinel)
// joins the others' cgroup when they all share one, else it forms a unit
// of its own, "(no cgroup)".
func Units(reports []workload.Report) []Unit {
	type key struct {
		cgroup string
		group  int
	}
	// A sentinel (a worker that died before reporting) has no cgroup; it
	// belongs to the others' when they all share one.
	home, shared := "", true
	for _, r := range reports {
		if r.Cgroup != "" {
			if home != "" && r.Cgroup != home {
				shared = false
			}
			home = r.Cgroup
		}
	}
	var cgroups []string
	groups := map[string][]int{}
	by := map[key][]workload.Report{}
	for _, r := range reports {
		k := key{r.Cgroup, r.GroupIdx}
		if k.cgroup == "" && shared {
			k.cgroup = home
		}
		if _, ok := groups[k.cgroup]; !ok {
			cgroups = append(cgroups, k.cgroup)
		}
		if _, ok := by[k]; !ok {
			groups[k.cgroup] = append(groups[k.cgroup], r.GroupIdx)
		}
		by[k] = append(by[k], r)
	}
	labels := cgroupLabels(cgroups)
	var out []Unit
	for _, cg := range cgroups {
		gs := groups[cg]
		slices.Sort(gs)
		for _, g := range gs {
			u := Unit{Name: fmt.Sprintf("group %d", g), Reports: by[key{cg, g}]}
			if len(cgroups) > 1 {
				u.Cgroup = labels[cg]
				u.Name = u.Cgroup
				if len(gs) > 1 {
					u.Name += fmt.Sprintf(" group %d", g)
				}
			}
			out = append(out, u)
		}
	}
	return out
}

// cgroupLabels shortens cgroup paths by the directory prefix they all
// share: /ktstar-12-5f3a9c01/web and /ktstar-12-5f3a9c01/db become web and db.
func cgroupLabels(paths []string) map[string]string {
	named := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "" })
	prefix := ""
	if len(named) > 1 {
		prefix = named[0][:strings.LastIndex(named[0], "/")+1]
		for _, p := range named[1:] {
			for !strings.HasPrefix(p, prefix) {
				prefix = prefix[:strings.LastIndex(prefix[:len(prefix)-1], "/")+1]
			}
		}
	}
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		switch l := strings.TrimPrefix(p, prefix); {
		case p == "":
			out[p] = "(no cgroup)"
		case l == "":
			out[p] = p
		default:
			out[p] = l
		}
	}
	return out
}

// Evaluate runs every enabled check on every unit, in table order per unit.
func Evaluate(units []Unit, a Assert) (Result, error) {
	if err := a.Validate(); err != nil {
		return Result{}, err
	}
	eff := a.effective()
	var res Result
	for i := range units {
		u := &units[i]
		for _, c := range table {
			s, ok := eff[c.Name]
			if !ok || s.Off {
				continue
			}
			o := c.eval(u, s.Limit)
			o.Check, o.Unit, o.Scope = c.Name, c.Unit, u.Name
			if c.Kind != Flag {
				o.Threshold = s.Limit
			}
			res.Outcomes = append(res.Outcomes, o)
		}
	}
	return res, nil
}
