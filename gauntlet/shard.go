package gauntlet

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a matrix: the cells whose position in
// Matrix.Cells is Index modulo Count. Every shard of a run must be given
// the same matrix; then the shards cover each cell exactly once, whatever
// machine or order they run in.
type Shard struct {
	Index, Count int // 0 ≤ Index < Count
}

// Whole is the one shard of an unsharded run.
var Whole = Shard{Index: 0, Count: 1}

// String renders the shard as --shard takes it: "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Select returns the shard's cells, in order.
func (s Shard) Select(cells []Cell) []Cell {
	var out []Cell
	for i, c := range cells {
		if i%s.Count == s.Index {
			out = append(out, c)
		}
	}
	return out
}

// ParseShard reads --shard i/n (0-based i).
func ParseShard(arg string) (Shard, error) {
	i, n, ok := strings.Cut(arg, "/")
	if !ok {
		return Shard{}, fmt.Errorf("--shard %q: want INDEX/COUNT, e.g. 0/3", arg)
	}
	return newShard("--shard "+arg, i, n, 0)
}

func newShard(from, index, count string, base int) (Shard, error) {
	i, err1 := strconv.Atoi(strings.TrimSpace(index))
	n, err2 := strconv.Atoi(strings.TrimSpace(count))
	if err1 != nil || err2 != nil || n < 1 || i-base < 0 || i-base >= n {
		last := "count-1"
		if base == 1 {
			last = "count"
		}
		return Shard{}, fmt.Errorf("%s: index %q of count %q: want a count of at least 1 and an index %d..%s", from, index, count, base, last)
	}
	return Shard{Index: i - base, Count: n}, nil
}

// ShardEnv is one job runner's way of telling a task which it is.
type ShardEnv struct {
	Runner string // who sets them
	Index  string // the task's index variable
	Count  string // the task count's variable; "" when the runner sets none
	Base   int    // the first index: 0 or 1
}

// ShardEnvs are the job runners whose index variables FromEnv reads, in
// the order it tries them.
var ShardEnvs = []ShardEnv{
	{"Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", "", 0},
	{"Slurm job array", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", 0},
	{"GitLab CI parallel", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1},
	{"CircleCI parallelism", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0},
	{"Buildkite parallelism", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0},
}

// FromEnv finds the shard a job runner assigned through its environment
// (getenv), with count, when positive, as the task count (a Kubernetes
// Indexed Job's completions, which the pod is not told). A Slurm array's
// index counts from SLURM_ARRAY_TASK_MIN. ok is false when no runner's
// variable is set.
func FromEnv(getenv func(string) string, count int) (s Shard, from string, ok bool, err error) {
	for _, e := range ShardEnvs {
		idx := getenv(e.Index)
		if idx == "" {
			continue
		}
		n := ""
		if e.Count != "" {
			n = getenv(e.Count)
		}
		if count > 0 {
			n = strconv.Itoa(count)
		}
		from = e.Runner + " (" + e.Index + ")"
		if n == "" {
			return Shard{}, from, true, fmt.Errorf("%s=%s: the task count is unknown: give it with --shard-count", e.Index, idx)
		}
		base := e.Base
		if e.Index == "SLURM_ARRAY_TASK_ID" {
			// Arrays may start anywhere (--array=1-3); the first task is shard 0.
			if lo := getenv("SLURM_ARRAY_TASK_MIN"); lo != "" {
				if base, err = strconv.Atoi(lo); err != nil {
					return Shard{}, from, true, fmt.Errorf("SLURM_ARRAY_TASK_MIN=%q: want a number", lo)
				}
			}
		}
		s, err = newShard(e.Index+"="+idx, idx, n, base)
		return s, from, true, err
	}
	return Whole, "", false, nil
}
