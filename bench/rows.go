package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// row is one comparison: ktstar (A) against a reference (B), run
// alternately A B A B … for the same duration and affinity. A row whose B
// is nil is a plain ktstar figure; its goal bounds the value itself.
type row struct {
	Name    string
	Section string // sectionFidelity, sectionEngine or sectionPeers
	// Pin pins worker i to cpus[i % n] on both sides; otherwise both
	// sides inherit the driver's CPU mask.
	Pin     bool
	A, B    runner
	Metrics []metric
}

// Sections of the table, in print order.
const (
	sectionFidelity = "fidelity: ktstar work type vs our C reference"
	sectionEngine   = "engine: spawn, memory, start-up"
	sectionPeers    = "peers: ktstar vs installed benchmark tools"
)

// metric is one compared figure of a row.
type metric struct {
	Label string
	AKey  string // figure key on the ktstar side
	BKey  string // figure key on the reference side; "" means AKey
	Goal  goal
	// NotComparable, when set, says why the two sides count different
	// units: the table labels the ratio "not comparable" and prints this.
	NotComparable string
}

func (m metric) bkey() string {
	if m.BKey == "" {
		return m.AKey
	}
	return m.BKey
}

// goal bounds a ratio (or, for a row without a reference, the value);
// zero means unbounded on that side. Both zero: informational.
type goal struct{ Min, Max float64 }

func (g goal) set() bool { return g.Min != 0 || g.Max != 0 }

func (g goal) String() string {
	switch {
	case g.Min != 0 && g.Max != 0:
		return fmt.Sprintf("%.2f..%.2f", g.Min, g.Max)
	case g.Min != 0:
		return fmt.Sprintf("≥ %.2f", g.Min)
	case g.Max != 0:
		return fmt.Sprintf("≤ %.2f", g.Max)
	}
	return ""
}

func (g goal) met(v float64) bool {
	return (g.Min == 0 || v >= g.Min) && (g.Max == 0 || v <= g.Max)
}

// Shorthands for the table below.
func kt(typ string, workers int, params map[string]any) ktstarWork {
	return ktstarWork{Type: typ, Workers: workers, Params: params}
}

func cref(prog string, workers int, args ...string) cProg {
	return cProg{Prog: prog, Workers: workers, Args: args}
}

// fidelity is a pinned row of a work type against its C reference, both
// given the same parameters: the reference takes each integer one as
// key=value and each duration as key_us=N (its parameters are integers);
// a string one (a variant the reference has built in) it does not take.
func fidelity(name, typ, prog string, workers int, params map[string]any, ms ...metric) row {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		switch v := params[k].(type) {
		case int:
			args = append(args, fmt.Sprintf("%s=%d", k, v))
		case time.Duration:
			args = append(args, fmt.Sprintf("%s_us=%d", k, v.Microseconds()))
		}
	}
	return row{Name: name, Section: sectionFidelity, Pin: true,
		A: kt(typ, workers, params), B: cref(prog, workers, args...), Metrics: ms}
}

var (
	rate       = func(g goal) metric { return metric{Label: "work units/s", AKey: "work_units_per_s", Goal: g} }
	roundTrips = func(g goal) metric { return metric{Label: "round trips/s", AKey: "round_trips_per_s", Goal: g} }
	wakeP50    = func(g goal) metric { return metric{Label: "wake p50", AKey: "wake_p50_ns", Goal: g} }
	wakeP99    = func(g goal) metric { return metric{Label: "wake p99", AKey: "wake_p99_ns", Goal: g} }
	within20   = goal{Min: 0.8, Max: 1.2}
)

// rows is the benchmark: one entry per comparison. A row whose ktstar work
// type is not in workload.Names() yet is skipped with a line saying so, so
// work types landing later need no change here.
func rows() []row {
	spawnRow := func(n int, static bool, g goal, extra ...metric) row {
		name := fmt.Sprintf("spawn-to-ready N=%d", n)
		if static {
			name += " (static C child)"
		}
		return row{
			Name: name, Section: sectionEngine,
			A: ktstarSpawn{N: n}, B: cSpawn{N: n, Static: static},
			Metrics: append([]metric{{Label: "per worker", AKey: "per_child_ns", Goal: g}}, extra...),
		}
	}
	threadRow := func(n int, g goal) row {
		return row{
			Name: fmt.Sprintf("thread spawn-to-ready N=%d", n), Section: sectionEngine,
			A: ktstarSpawn{N: n, Thread: true}, B: cThreadSpawn{N: n},
			Metrics: []metric{{Label: "per worker", AKey: "per_child_ns", Goal: g}},
		}
	}
	memory := []metric{
		{Label: "idle worker anon RSS", AKey: "child_anon_kb"},
		{Label: "idle worker private", AKey: "child_private_kb"},
	}
	return append([]row{
		fidelity("SpinWait", "SpinWait", "spin", 2, nil, rate(goal{Min: 0.95})),
		// Both sides run the same instructions per unit, so faster is as
		// far off as slower: a two-sided band.
		fidelity("CachePressure", "CachePressure", "cache_rmw", 2, map[string]any{"size_kb": 32, "stride": 64},
			rate(goal{Min: 0.9, Max: 1.1})),
		fidelity("FutexPingPong", "FutexPingPong", "futex_pingpong", 2, map[string]any{"spin_iters": 1024},
			roundTrips(goal{Min: 0.9}), wakeP50(goal{}), wakeP99(goal{})),
		fidelity("FutexPingPong spin_iters=0", "FutexPingPong", "futex_pingpong", 2, map[string]any{"spin_iters": 0},
			roundTrips(goal{}), wakeP50(goal{}), wakeP99(goal{})),
		fidelity("PipeIo", "PipeIo", "pipe_pingpong", 2, map[string]any{"burst_iters": 1024},
			roundTrips(goal{Min: 0.9}), wakeP50(goal{}), wakeP99(goal{})),
		fidelity("PipeIo burst_iters=0", "PipeIo", "pipe_pingpong", 2, map[string]any{"burst_iters": 0},
			roundTrips(goal{}), wakeP50(goal{}), wakeP99(goal{})),
		fidelity("ForkExit", "ForkExit", "fork_exit", 1, nil, rate(goal{Min: 0.8}), wakeP50(goal{}), wakeP99(goal{})),
		fidelity("WakeChain", "WakeChain", "wake_chain", 4,
			map[string]any{"depth": 4, "wake": "Pipe", "work_per_hop": 100 * time.Microsecond},
			metric{Label: "hops/s", AKey: "iterations_per_s", Goal: goal{Min: 0.9}}, wakeP50(goal{}), wakeP99(goal{})),
		fidelity("FutexFanOut", "FutexFanOut", "fanout", 5, map[string]any{"fan_out": 4, "spin_iters": 1024},
			wakeP50(within20), wakeP99(within20), metric{Label: "iterations/s", AKey: "iterations_per_s"}),

		spawnRow(16, false, goal{}, memory...),
		spawnRow(256, false, goal{Max: 1.5}),
		spawnRow(256, true, goal{}),
		spawnRow(1024, false, goal{}),
		threadRow(16, goal{}),
		threadRow(256, goal{Max: 1.6}),
		threadRow(1024, goal{}),
		{Name: "idle thread worker memory", Section: sectionEngine, A: ktstarThreadMem{N: 256},
			Metrics: []metric{{Label: "private kB per thread", AKey: "thread_private_kb", Goal: goal{Max: 64}}}},
		{Name: "engine start (empty script)", Section: sectionEngine, A: ktstarStart{},
			Metrics: []metric{{Label: "wall ms", AKey: "start_ms", Goal: goal{Max: 30}}}},
		{Name: "report conversion 64 × 100,000 samples + p99", Section: sectionEngine,
			A:       reportConversion{},
			Metrics: []metric{{Label: "ms", AKey: "convert_ms", Goal: goal{Max: 300}}}},

		{Name: "PipeIo vs perf bench sched pipe", Section: sectionPeers,
			A: kt("PipeIo", 2, map[string]any{"burst_iters": 0}), B: perfPipe,
			Metrics: []metric{roundTrips(goal{})}},
		{Name: "PipeIo ×4 vs hackbench pipe group", Section: sectionPeers,
			A: kt("PipeIo", 4, map[string]any{"burst_iters": 0}), B: hackbench,
			Metrics: []metric{{Label: "messages/s", AKey: "iterations_per_s", BKey: "messages_per_s",
				NotComparable: "a PipeIo iteration is one worker's write and its wait for the partner's byte, in lockstep pairs; a hackbench message is one write that any of 2 readers drains in its own loop, with 2 senders writing ahead into pipe buffers, so neither count is the other's"}}},
		{Name: "FutexPingPong vs stress-ng --futex", Section: sectionPeers,
			A: kt("FutexPingPong", 2, map[string]any{"spin_iters": 0}), B: stressNG("futex"),
			Metrics: []metric{{Label: "round trips vs bogo ops/s", AKey: "round_trips_per_s", BKey: "bogo_ops_per_s",
				NotComparable: "a stress-ng futex bogo op is one FUTEX_WAKE or FUTEX_WAIT call by a spinning waker or waiter, most of which wake nobody or return at once; a ktstar round trip is two complete hand-offs, each a wake of a sleeping partner"}}},
		{Name: "ForkExit vs stress-ng --fork", Section: sectionPeers,
			A: kt("ForkExit", 1, nil), B: stressNG("fork"),
			Metrics: []metric{{Label: "forks vs bogo ops/s", AKey: "work_units_per_s", BKey: "bogo_ops_per_s"}}},
		{Name: "IdleChurn vs cyclictest", Section: sectionPeers,
			A: kt("IdleChurn", 1, map[string]any{"burst_duration": 10 * time.Microsecond, "sleep_duration": time.Millisecond}),
			B: cyclictest, Metrics: timerLatency},
		{Name: "Bursty vs cyclictest", Section: sectionPeers,
			A:       ktstarWork{Type: "Bursty", Workers: 1, Params: map[string]any{"burst_duration": time.Duration(0), "sleep_duration": time.Millisecond}, SampleOffset: time.Millisecond},
			B:       cyclictest,
			Metrics: timerLatency},
		// The same probe on both sides: absolute 1 ms deadlines, lateness
		// sampled, SCHED_OTHER with the default timer slack.
		{Name: "TimerLatency vs cyclictest", Section: sectionPeers,
			A: kt("TimerLatency", 1, map[string]any{"interval_us": 1000}), B: cyclictest,
			Metrics: []metric{
				{Label: "timer latency p50", AKey: "timer_p50_ns", BKey: "latency_p50_ns", Goal: within20},
				{Label: "timer latency p99", AKey: "timer_p99_ns", BKey: "latency_p99_ns"},
			}},
	}, schbenchRows()...)
}

var timerLatency = []metric{
	{Label: "wake latency p50", AKey: "wake_p50_ns", BKey: "latency_p50_ns"},
	{Label: "wake latency p99", AKey: "wake_p99_ns", BKey: "latency_p99_ns"},
}

func secs(d time.Duration) string {
	return fmt.Sprintf("%d", max(int(d.Round(time.Second)/time.Second), 1))
}

// perfPipe is perf's pipe ping-pong between two processes; one op is one
// round trip. It takes a loop count, not a duration: about 20k ops/s here.
var perfPipe = tool{
	Bin: "perf", Package: "linux-perf",
	Shape: "perf bench sched pipe -l 20000/s (two processes, blocking read)",
	Args: func(d time.Duration) []string {
		return []string{"bench", "sched", "pipe", "-l", fmt.Sprint(int(20000 * d.Seconds()))}
	},
	Parse: func(out []byte, _ string, _ []string) (figures, error) {
		v, err := firstFloat(regexp.MustCompile(`(\d+)\s+ops/sec`), out)
		return figures{"round_trips_per_s": v}, err
	},
}

// hackbench sends 1-byte messages over pipes from 2 senders to 2 receivers
// (each sender to each receiver); messages/s = groups·fds·fds·loops / time.
var hackbench = tool{
	Bin: "hackbench", Package: "rt-tests",
	Shape: "hackbench -p -g 1 -f 2 -s 1 -l 400000/s",
	Args: func(d time.Duration) []string {
		return []string{"-p", "-g", "1", "-f", "2", "-s", "1", "-l", fmt.Sprint(int(400000 * d.Seconds()))}
	},
	Parse: func(out []byte, _ string, args []string) (figures, error) {
		t, err := firstFloat(regexp.MustCompile(`Time:\s+([\d.]+)`), out)
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("no positive Time: (%v)", err)
		}
		var loops float64
		fmt.Sscan(args[len(args)-1], &loops)
		return figures{"messages_per_s": 1 * 2 * 2 * loops / t}, nil
	},
}

// stressNG runs one instance of a stress-ng stressor and reads its YAML
// metrics (bogo ops per second of real time).
func stressNG(stressor string) tool {
	return tool{
		Bin: "stress-ng", Package: "stress-ng",
		Shape: fmt.Sprintf("stress-ng --%s 1 -t 1 --metrics-brief --yaml F", stressor),
		Args: func(d time.Duration) []string {
			return []string{"--" + stressor, "1", "-t", secs(d), "--metrics-brief", "--yaml", "metrics.yaml"}
		},
		Parse: func(_ []byte, dir string, _ []string) (figures, error) {
			data, err := os.ReadFile(filepath.Join(dir, "metrics.yaml"))
			if err != nil {
				return nil, err
			}
			v, err := firstFloat(regexp.MustCompile(`bogo-ops-per-second-real-time:\s+([\d.]+)`), data)
			return figures{"bogo_ops_per_s": v}, err
		},
	}
}

// cyclictest: one SCHED_OTHER thread, 1 ms absolute-deadline sleeps, a 1 µs
// histogram for the percentiles; --laptop leaves /dev/cpu_dma_latency alone
// (ktstar does not touch it either).
var cyclictest = tool{
	Bin: "cyclictest", Package: "rt-tests",
	Shape: "cyclictest -t1 -i 1000 -D 1 -q -h 20000 --laptop (SCHED_OTHER)",
	Args: func(d time.Duration) []string {
		return []string{"-t1", "-i", "1000", "-D", secs(d), "-q", "-h", "20000", "--laptop"}
	},
	Parse: func(out []byte, _ string, _ []string) (figures, error) {
		p50, p99, err := histogramPercentiles(out)
		return figures{"latency_p50_ns": p50, "latency_p99_ns": p99}, err
	},
}
