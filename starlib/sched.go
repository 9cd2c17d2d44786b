package starlib

import (
	"time"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Sched is the Starlark module `sched`: Linux scheduling policies for
// workload(policy = ...).
//
//	def normal() -> sched_policy   SCHED_NORMAL, the default
//	def batch() -> sched_policy    SCHED_BATCH
//	def idle() -> sched_policy     SCHED_IDLE
//	def fifo(p) -> sched_policy    SCHED_FIFO at real-time priority p (1..99)
//	def rr(p) -> sched_policy      SCHED_RR at real-time priority p (1..99)
//	def deadline(runtime, deadline, period = 0) -> sched_policy
//	                               SCHED_DEADLINE: runtime within deadline of every
//	                               period (durations; period 0 means the deadline)
//	def ext() -> sched_policy      SCHED_EXT, the loaded sched_ext scheduler
//
// Priorities and the deadline reservation (runtime ≤ deadline ≤ period)
// are checked when the workload is built; a kernel without sched_ext or
// an over-subscribed deadline bandwidth fails the spawn.
var Sched = builtinModule("sched", map[string]builtinFunc{
	"normal": policyBuiltin(workload.Normal),
	"batch":  policyBuiltin(workload.Batch),
	"idle":   policyBuiltin(workload.Idle),
	"fifo":   priorityBuiltin(workload.Fifo),
	"rr":     priorityBuiltin(workload.RoundRobin),
	"ext":    policyBuiltin(workload.Ext),
	"deadline": func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var runtime, deadline, period durationParam
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "runtime", &runtime, "deadline", &deadline, "period?", &period); err != nil {
			return nil, err
		}
		return PolicyValue{P: workload.Deadline(time.Duration(runtime), time.Duration(deadline), time.Duration(period))}, nil
	},
})

func policyBuiltin(mk func() workload.SchedPolicy) builtinFunc {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		return PolicyValue{P: mk()}, nil
	}
}

func priorityBuiltin(mk func(int) workload.SchedPolicy) builtinFunc {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var p int
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "p", &p); err != nil {
			return nil, err
		}
		return PolicyValue{P: mk(p)}, nil
	}
}

// PolicyValue is the Starlark value of a scheduling policy.
type PolicyValue struct {
	immutable
	P workload.SchedPolicy
}

// String renders the constructor call as a script writes it, e.g.
// `sched.fifo(50)`, so a printed value pastes back into a script.
func (p PolicyValue) String() string { return "sched." + p.P.String() }

// Type returns "sched_policy".
func (p PolicyValue) Type() string { return "sched_policy" }

// Hash hashes the rendered value.
func (p PolicyValue) Hash() (uint32, error) { return starlark.String(p.String()).Hash() }

// CompareSameType compares policies for equality.
func (p PolicyValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(p, op, y)
}
