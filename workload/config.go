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
	// MemPolicy is the NUMA memory policy every worker sets for itself.
	MemPolicy MemPolicy
	// UID and GID, when non-nil, are set with setresgid then setresuid in
	// every worker after its privileged set-up (0..2^32-2).
	UID, GID *int
	// NUMANode, when non-nil, restricts every worker to that node's CPUs,
	// replacing Affinity's mask.
	NUMANode *int
	// Composed are secondary groups spawned beside this primary one and
	// owned by the same handle (runtime.md §1.3): entry k is group_idx
	// k+1, with its own work, workers, affinity, policy, nice, comm and
	// identity. It shares the primary's cgroups; it has no Composed or
	// MaxWorkers of its own.
	Composed []Config
	// MaxWorkers is the per-spawn ceiling admission holds Workers to; 0
	// means DefaultMaxWorkers. The machine's own limits apply either way.
	MaxWorkers int
	// CloneMode says whether the group's workers are processes of their
	// own (CloneFork, the default) or locked OS threads of one shared
	// host process (CloneThread; runtime.md §1.4).
	CloneMode CloneMode
	// Pcomm, when non-empty, hosts the group's workers as threads of a
	// container: one process per distinct Pcomm of the spawn, whose task
	// name (the thread-group leader's comm) is Pcomm (runtime.md §1.5).
	// It implies CloneThread.
	Pcomm string
}

// CloneMode is how a group's workers are created.
type CloneMode int

// Clone modes.
const (
	CloneFork   CloneMode = iota // a re-exec'd process per worker
	CloneThread                  // locked OS threads of one re-exec'd host process
)

// String is the mode's script name.
func (m CloneMode) String() string {
	if m == CloneThread {
		return "thread"
	}
	return "fork"
}

// ParseCloneMode reads a script's clone_mode.
func ParseCloneMode(s string) (CloneMode, error) {
	switch s {
	case "fork":
		return CloneFork, nil
	case "thread":
		return CloneThread, nil
	}
	return 0, invalid("clone_mode = %q is not a clone mode (allowed: \"fork\", \"thread\")", s)
}

// hosted reports whether the group's workers run as threads of a host
// process (thread mode or a pcomm container).
func (c *Config) hosted() bool { return c.CloneMode == CloneThread || c.Pcomm != "" }

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
	PolicyNormal   PolicyKind = 0
	PolicyFifo     PolicyKind = 1
	PolicyRR       PolicyKind = 2
	PolicyBatch    PolicyKind = 3
	PolicyIdle     PolicyKind = 5
	PolicyDeadline PolicyKind = 6
	PolicyExt      PolicyKind = 7 // sched_ext: the loaded BPF scheduler, fair class without one
)

// SchedPolicy is the scheduling policy applied to every worker.
type SchedPolicy struct {
	Kind     PolicyKind
	Priority int // 1..99 for Fifo and RR; 0 otherwise
	// Runtime, Deadline and Period are a Deadline policy's reservation:
	// Runtime of CPU time within Deadline of the start of every Period
	// (0 means Deadline). Zero for every other policy.
	Runtime, Deadline, Period time.Duration `json:",omitempty"`
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

// Deadline is SCHED_DEADLINE: runtime of CPU time within deadline of the
// start of every period (0: the deadline). Each worker is admitted by the
// kernel's deadline bandwidth control; a spawn that over-subscribes it fails.
func Deadline(runtime, deadline, period time.Duration) SchedPolicy {
	return SchedPolicy{Kind: PolicyDeadline, Runtime: runtime, Deadline: deadline, Period: period}
}

// Ext is SCHED_EXT: the workers are scheduled by the loaded sched_ext BPF
// scheduler (by the fair class while none is loaded).
func Ext() SchedPolicy { return SchedPolicy{Kind: PolicyExt} }

// period is the Deadline policy's effective period.
func (p SchedPolicy) period() time.Duration {
	if p.Period == 0 {
		return p.Deadline
	}
	return p.Period
}

// String renders the policy as its script constructor.
func (p SchedPolicy) String() string {
	switch p.Kind {
	case PolicyDeadline:
		return fmt.Sprintf("deadline(%q, %q, %q)", p.Runtime, p.Deadline, p.Period)
	case PolicyExt:
		return "ext()"
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
func (p SchedPolicy) realtime() bool {
	return p.Kind == PolicyFifo || p.Kind == PolicyRR || p.Kind == PolicyDeadline
}

// The kernel's bounds on a Deadline reservation: runtime at least 1024 ns
// (sched/deadline.c's DL_SCALE granularity), the period inside
// kernel.sched_deadline_period_min_us..max_us at their defaults.
const (
	dlMinRuntime = 1024 * time.Nanosecond
	dlMinPeriod  = 100 * time.Microsecond
	dlMaxPeriod  = 4 * time.Second
)

// validateDeadline is the user-side gate of a Deadline policy: runtime ≤
// deadline ≤ period, each in the kernel's range, before anything forks.
func (p SchedPolicy) validateDeadline() error {
	switch {
	case p.Runtime < dlMinRuntime:
		return invalid("policy %s: runtime = %v is below the kernel's minimum of %v", p, p.Runtime, dlMinRuntime)
	case p.Runtime > p.Deadline:
		return invalid("policy %s: runtime = %v exceeds deadline = %v (need runtime ≤ deadline ≤ period)", p, p.Runtime, p.Deadline)
	case p.Period != 0 && p.Deadline > p.Period:
		return invalid("policy %s: deadline = %v exceeds period = %v (need runtime ≤ deadline ≤ period; period 0 means the deadline)", p, p.Deadline, p.Period)
	case p.period() < dlMinPeriod || p.period() > dlMaxPeriod:
		return invalid("policy %s: period = %v is out of range (allowed: %v..%v, kernel.sched_deadline_period_{min,max}_us)", p, p.period(), dlMinPeriod, dlMaxPeriod)
	}
	return nil
}

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

// groups returns the spawn's groups in group_idx order: the primary (c
// without its Composed), then each composed entry with the primary's
// cgroups.
func (c *Config) groups() []Config {
	p := *c
	p.Composed = nil
	out := []Config{p}
	for _, e := range c.Composed {
		e.Cgroup, e.CgroupParent, e.MaxWorkers, e.gateLimit = c.Cgroup, c.CgroupParent, c.MaxWorkers, c.gateLimit
		out = append(out, e)
	}
	return out
}

// TotalWorkers is the number of workers of every group of the spawn.
func (c *Config) TotalWorkers() int {
	n := c.Workers
	for _, e := range c.Composed {
		n += e.Workers
	}
	return n
}

func (c *Config) validate(online []int) error {
	if err := c.validateGroup(online); err != nil {
		return err
	}
	for k, e := range c.Composed {
		if len(e.Composed) > 0 {
			return invalid("composed[%d] (group_idx %d): a composed group has no composed groups of its own", k, k+1)
		}
		if err := e.validateGroup(online); err != nil {
			// Every validateGroup error is invalid(…): name the entry after the sentinel.
			return invalid("composed[%d] (group_idx %d): %s", k, k+1, strings.TrimPrefix(err.Error(), ErrInvalidConfig.Error()+": "))
		}
	}
	return c.checkHosts()
}

// validateGroup checks the fields of one group.
func (c *Config) validateGroup(online []int) error {
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
	case PolicyNormal, PolicyBatch, PolicyIdle, PolicyExt:
		if c.Policy.Priority != 0 {
			return invalid("policy %s: priority = %d, but only fifo and rr take a priority", c.Policy, c.Policy.Priority)
		}
	case PolicyDeadline:
		if err := c.Policy.validateDeadline(); err != nil {
			return err
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
	for _, id := range []struct {
		name string
		v    *int
	}{{"uid", c.UID}, {"gid", c.GID}} {
		// (uid_t)-1 means "unchanged" to setresuid, so it is no identity.
		if id.v != nil && (*id.v < 0 || *id.v >= 1<<32-1) {
			return invalid("%s = %d is out of range (allowed: 0..%d)", id.name, *id.v, uint32(1<<32-2))
		}
	}
	if err := c.MemPolicy.validate(); err != nil {
		return err
	}
	if c.NUMANode != nil && *c.NUMANode < 0 {
		return invalid("numa_node = %d is out of range (allowed: an online node, 0 or more)", *c.NUMANode)
	}
	if c.CloneMode != CloneFork && c.CloneMode != CloneThread {
		return invalid("clone_mode = %d is unknown (allowed: fork, thread)", int(c.CloneMode))
	}
	if err := c.checkThreadable(); err != nil {
		return err
	}
	if err := validateName("pcomm", c.Pcomm); err != nil {
		return err
	}
	return ValidateComm(c.Comm)
}

// checkThreadable refuses, before anything forks, a hosted group whose
// work type cannot run as a thread of a shared process (Type.NotAsThread).
func (c *Config) checkThreadable() error {
	why := c.Work.Type().NotAsThread
	switch {
	case why == "" || !c.hosted():
		return nil
	case c.Pcomm != "":
		return invalid("pcomm = %q: %s cannot run as a thread of a container: %s (use a group without pcomm, clone_mode = \"fork\")", c.Pcomm, c.Work.Name(), why)
	}
	return invalid("clone_mode = \"thread\": %s cannot run as a thread: %s (use clone_mode = \"fork\")", c.Work.Name(), why)
}

// ValidateComm checks a task name: at most 15 bytes (the kernel would
// silently truncate a longer one) and no NUL byte. Empty means unset.
func ValidateComm(comm string) error { return validateName("comm", comm) }

// validateName checks a task name given as field (comm, pcomm).
func validateName(field, name string) error {
	if strings.IndexByte(name, 0) >= 0 {
		return invalid("%s = %q contains a NUL byte", field, name)
	}
	if len(name) > 15 {
		return invalid("%s = %q is %d bytes (allowed: 1..15 bytes; the kernel would truncate it)", field, name, len(name))
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
