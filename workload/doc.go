/*
Package workload spawns and measures scheduler workloads: groups of worker
processes that each run one work type's loop (spin, sleep, wake a partner,
contend on a lock, churn affinity, …) and report what they saw: work done,
CPU and wall time, wake latencies, migrations, schedstat deltas.

A caller describes a spawn with a [Config] (how many workers, which [Work],
affinity, policy, nice, cgroup), starts it with [Spawn], opens the start
gate with [Handle.Start], and stops it with [Handle.StopAndCollect], which
returns one [Report] per worker. Programs that spawn call [Init] first
thing in main: a worker is this same binary, re-executed.

# Work is data

A [Work] is a work type from the catalog with every parameter resolved and
checked against its declared range. Building one ([NewWork], JSON decoding)
never reads the machine, so a result file from another host always
decodes. What depends on the machine (a NUMA node being online, a block
device being free, a Custom function being registered) is checked by
[Work.Preflight], which [Spawn] runs and `ktstar check` can run too.

# The protocol in one picture

Every worker is a process of its own, so a stop or a crash of one never
stops another. The parent and each worker speak over pipes and one shared
memory (protocol.go has the details: message bytes, fd numbers, the memory
layout):

	parent (Spawn, Handle)                      worker (Init)
	exec /proc/self/exe, spec on fd 3   ─────►  prologue: affinity, policy, mempolicy, nice, comm, ids, node
	Spawn returns when all parked       ◄─────  'p' parked   (or 'e' + error)
	Start: stamp + gate word, one wake  ─────►  'r', the loop runs; every window counts from the stamp
	                                            each step: Body.Step, checkpoint, publish count
	Scenario: epoch word (SetPhaseEpoch) ────►  at the next step: close a PhaseSlice (epoch.go)
	Stop: stop word in shared memory    ─────►  loop ends
	                                    ◄─────  JSON report, EOF at exit
	reap; SIGKILL whatever is left after the deadline

# Adding a work type

A work type is one entry in a family's catalog slice (types_*.go; the
slices are joined once, in catalog.go) plus its body, in the same file:

	{
		Name: "NapSpin", Ctor: "nap_spin",                 // PascalCase and snake_case names
		Doc:  "Spin burst_iters steps, then sleep nap.",   // one line, for ktstar list and doc
		Params: []Param{
			itersParam("burst_iters", "spin steps per iteration"),
			{Name: "nap", Kind: KindDuration, Default: time.Millisecond, Doc: "sleep after each burst"},
		},
		Example: map[string]any{"burst_iters": 64},        // valid and fast: what the tests run
		Sample:  SampleSleep,                              // what its samples measure (sample.go)
		New: func(w *Worker) (Body, error) {
			return &napSpin{w: w, n: uint64(w.Work().Int("burst_iters")), nap: w.Work().Duration("nap")}, nil
		},
	},

	type napSpin struct { w *Worker; n uint64; nap time.Duration }

	func (b *napSpin) Step() bool {
		b.w.SpinBurst(b.n)
		t0 := b.w.Now()
		sleepFull(b.nap)
		b.w.WakeSample(b.w.Now() - t0)
		b.w.ResetGap()
		return true
	}

Everything else follows from the entry: the script constructor
work.nap_spin(...), validation with range errors, `ktstar list` and
`ktstar doc`, JSON encoding, and the catalog-driven tests, which run
every type with its Example (TestCatalogIsConsistent, TestCatalogRanges,
TestStepAllocs, TestLoopDoesNotAllocate; for grouped types
TestGroupedStepAllocs and TestGroupedStop). A parameter kind is one
entry of params.go's kinds; a sleep in milliseconds is sleepMsParam,
whose maximum follows from the stop deadline. Optional fields of [Type] declare groups (GroupSize, Pipes,
GroupFiles, Region, Messenger), scratch files, cgroups of its own, the
cgroup its workers must be spawned in (Placement) and machine checks
(Preflight). A body must not allocate in Step; it prepares
everything in New, which runs before the start gate.

# Whole programs in one worker

Schbench and Taobench run a benchmark's own threads inside one worker
(spawn them with workers = 1): a threadTeam starts each as a goroutine
locked to an OS thread that sets its own mask, policy and comm, holds
them at a gate until the first Step, and reaps them all in the body's
Finish, before the report is sent. Their figures travel in
[Report.Schbench] and [Report.Taobench]; Schbench's histograms are
package hist's, upstream's buckets bit for bit.
*/
package workload
