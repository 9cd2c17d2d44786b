package workload

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/internal/cpulist"
	"github.com/ktstar/ktstar/topo"
)

// Config describes one spawn request: a group of identical workers.
type Config struct {
	Workers  int      // number of workers; at least 1
	Work     Work     // what each worker does; the zero value is SpinWait
	Affinity Affinity // the CPUs each worker may run on
	Policy   SchedPolicy
	// Nice, when non-nil, is applied with setpriority in every worker.
	// Nil inherits the spawner's nice value; a pointer to 0 forces 0.
	Nice *int
	// Comm, when non-empty, is the task name of every worker (at most 15 bytes).
	Comm string
	// Warmup leaves the first part of the run out of wake, cost and timer samples
	// and gap tracking (work is still counted), as schbench's warm-up does.
	Warmup time.Duration

	// gateLimit, when set, replaces startGateLimit: tests shorten it.
	gateLimit time.Duration
	// Cgroup, when non-nil, is the cgroup v2 group every worker is created
	// in (a *cgroupfs.Manager). Nil leaves workers in the spawner's group.
	Cgroup Cgroup
	// CgroupParent is the group under which a work type that needs groups
	// of its own (Type.Cgroups: CgroupChurn) has them created, normally the
	// run's ktstar-<pid>-<run id> group. Such a type cannot spawn without it, since
	// ktstar never creates groups outside a subtree it owns.
	CgroupParent *cgroupfs.Manager
}

// AffinityKind selects how a worker's CPU mask is chosen.
type AffinityKind int

// Affinity kinds. A plain spawn accepts the first three; the
// topology-aware ones are resolved by ResolveAffinity inside a scenario.
const (
	AffinityInherit        AffinityKind = iota // keep the spawner's mask
	AffinityExact                              // exactly CPUs
	AffinityRandomSubset                       // Count CPUs drawn per worker from CPUs
	AffinitySingleCPU                          // the lowest CPU of the cgroup's pool
	AffinityLLCAligned                         // the CPUs of one LLC inside the pool
	AffinityCrossCgroup                        // every CPU; the kernel narrows it to the cpuset
	AffinitySMTSiblingPair                     // two SMT siblings of one core
)

// Affinity is a CPU-mask intent.
type Affinity struct {
	Kind  AffinityKind
	CPUs  []int
	Count int // RandomSubset only
}

// Inherit keeps the spawner's CPU mask.
func Inherit() Affinity { return Affinity{} }

// Exact pins every worker to exactly the given CPUs.
func Exact(cpus ...int) Affinity { return Affinity{Kind: AffinityExact, CPUs: cpus} }

// RandomSubset gives each worker count CPUs drawn independently from cpus.
func RandomSubset(cpus []int, count int) Affinity {
	return Affinity{Kind: AffinityRandomSubset, CPUs: cpus, Count: count}
}

// String renders the intent as its script constructor.
func (a Affinity) String() string {
	switch a.Kind {
	case AffinityExact:
		return fmt.Sprintf("exact(%s)", FormatCPUList(a.CPUs))
	case AffinityRandomSubset:
		return fmt.Sprintf("random_subset(%s, %d)", FormatCPUList(a.CPUs), a.Count)
	case AffinitySingleCPU:
		return "single_cpu()"
	case AffinityLLCAligned:
		return "llc_aligned()"
	case AffinityCrossCgroup:
		return "cross_cgroup()"
	case AffinitySMTSiblingPair:
		return "smt_sibling_pair()"
	}
	return "inherit()"
}

// PolicyKind is a Linux scheduling policy.
type PolicyKind int

// Scheduling policies; the values are the kernel's SCHED_* numbers.
const (
	PolicyNormal PolicyKind = 0
	PolicyFifo   PolicyKind = 1
	PolicyRR     PolicyKind = 2
	PolicyBatch  PolicyKind = 3
	PolicyIdle   PolicyKind = 5
)

// SchedPolicy is the scheduling policy applied to every worker.
type SchedPolicy struct {
	Kind     PolicyKind
	Priority int // 1..99 for Fifo and RR; 0 otherwise
}

// Normal is SCHED_NORMAL, the kernel default (no call is made).
func Normal() SchedPolicy { return SchedPolicy{} }

// Batch is SCHED_BATCH.
func Batch() SchedPolicy { return SchedPolicy{Kind: PolicyBatch} }

// Idle is SCHED_IDLE.
func Idle() SchedPolicy { return SchedPolicy{Kind: PolicyIdle} }

// Fifo is SCHED_FIFO at the given real-time priority (1..99).
func Fifo(prio int) SchedPolicy { return SchedPolicy{Kind: PolicyFifo, Priority: prio} }

// RoundRobin is SCHED_RR at the given real-time priority (1..99).
func RoundRobin(prio int) SchedPolicy { return SchedPolicy{Kind: PolicyRR, Priority: prio} }

// String renders the policy as its script constructor.
func (p SchedPolicy) String() string {
	switch p.Kind {
	case PolicyBatch:
		return "batch()"
	case PolicyIdle:
		return "idle()"
	case PolicyFifo:
		return fmt.Sprintf("fifo(%d)", p.Priority)
	case PolicyRR:
		return fmt.Sprintf("rr(%d)", p.Priority)
	}
	return "normal()"
}

// realtime reports whether the policy needs CAP_SYS_NICE.
func (p SchedPolicy) realtime() bool { return p.Kind == PolicyFifo || p.Kind == PolicyRR }

// ErrInvalidConfig is wrapped by every validation error, so callers can tell
// a bad request from a failure of the machine.
// It is topo.ErrInvalid, so a cpuset spec's error is one too.
var ErrInvalidConfig = topo.ErrInvalid

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// Validate checks the config against its rules and the machine's online CPUs.
// Every error names the field, the value and what is allowed.
func (c *Config) Validate() error {
	online, err := topo.OnlineCPUs()
	if err != nil {
		return err
	}
	return c.validate(online)
}

func (c *Config) validate(online []int) error {
	if c.Workers < 1 {
		return invalid("workers = %d: at least 1 worker is needed (zero workers emit no reports, so every check would pass vacuously)", c.Workers)
	}
	if g := c.Work.GroupSize(); g > 0 && c.Workers%g != 0 {
		return invalid("workers = %d: %s runs in groups of %d, so workers must be a positive multiple of %d", c.Workers, c.Work.Name(), g, g)
	}
	if err := c.Work.check(); err != nil {
		return invalid("%v", err)
	}
	if err := c.Affinity.validate(online); err != nil {
		return err
	}
	switch c.Policy.Kind {
	case PolicyNormal, PolicyBatch, PolicyIdle:
		if c.Policy.Priority != 0 {
			return invalid("policy %s: priority = %d, but only fifo and rr take a priority", c.Policy, c.Policy.Priority)
		}
	case PolicyFifo, PolicyRR:
		if c.Policy.Priority < 1 || c.Policy.Priority > 99 {
			return invalid("policy %s: priority = %d is out of range (allowed: 1..99)", c.Policy, c.Policy.Priority)
		}
	default:
		return invalid("policy = %d: unknown scheduling policy", int(c.Policy.Kind))
	}
	if c.Warmup < 0 {
		return invalid("warmup = %v is out of range (allowed: 0s or more)", c.Warmup)
	}
	if c.Nice != nil && (*c.Nice < -20 || *c.Nice > 19) {
		return invalid("nice = %d is out of range (allowed: -20..19)", *c.Nice)
	}
	return ValidateComm(c.Comm)
}

// ValidateComm checks a task name: at most 15 bytes (the kernel would
// silently truncate a longer one) and no NUL byte. Empty means unset.
func ValidateComm(comm string) error {
	if strings.IndexByte(comm, 0) >= 0 {
		return invalid("comm = %q contains a NUL byte", comm)
	}
	if len(comm) > 15 {
		return invalid("comm = %q is %d bytes (allowed: 1..15 bytes; the kernel would truncate it)", comm, len(comm))
	}
	return nil
}

func (a Affinity) validate(online []int) error {
	switch a.Kind {
	case AffinityInherit:
		return nil
	case AffinityExact, AffinityRandomSubset:
		if len(a.CPUs) == 0 {
			return invalid("affinity %s: the CPU list is empty, which sched_setaffinity rejects with EINVAL; use inherit() to keep the current mask", a)
		}
		for _, c := range a.CPUs {
			if !slices.Contains(online, c) {
				return invalid("affinity %s: CPU %d is not online (online CPUs: %s)", a, c, FormatCPUList(online))
			}
		}
		if a.Kind == AffinityRandomSubset && (a.Count < 1 || a.Count > len(a.CPUs)) {
			return invalid("affinity %s: count = %d is out of range (allowed: 1..%d, the size of the CPU list)", a, a.Count, len(a.CPUs))
		}
		return nil
	case AffinitySingleCPU, AffinityLLCAligned, AffinityCrossCgroup, AffinitySMTSiblingPair:
		return invalid("affinity %s requires scenario context: a plain spawn accepts inherit(), exact(cpus) and random_subset(cpus, count); topology-aware intents are resolved automatically inside scenarios", a)
	}
	return invalid("affinity kind %d is unknown (use inherit, exact or random_subset)", int(a.Kind))
}

// ParseCPUList parses the kernel's CPU list format ("0-3,8,10-11").
func ParseCPUList(s string) ([]int, error) { return cpulist.Parse(s) }

// FormatCPUList renders CPUs in the kernel's list format, merging runs.
func FormatCPUList(cpus []int) string { return cpulist.Format(cpus) }

// CheckSetAffinity checks a request to move worker i of a workload of
// workers workers onto cpus, as Handle.SetAffinity does before it acts.
func CheckSetAffinity(workers, i int, cpus []int) error {
	if i < 0 || i >= workers {
		return fmt.Errorf("set_affinity: worker index %d is out of range (allowed: 0..%d)", i, workers-1)
	}
	online, err := topo.OnlineCPUs()
	if err != nil {
		return err
	}
	if err := Exact(cpus...).validate(online); err != nil {
		return fmt.Errorf("set_affinity(%d): %w", i, err)
	}
	return nil
}
