package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/ktstar/ktstar/workload"
)

// schbenchRuntime is the length of every schbench run, whatever -duration
// says: upstream takes whole seconds (-r) and samples RPS once a second.
const schbenchRuntime = 5 * time.Second

// schbenchRows compare work.schbench with upstream schbench (masoncl,
// built by whoever runs the bench and named by SCHBENCH=/path) on the
// configurations of issue 18, each added to -m 1 -t 2 -r 5.
func schbenchRows() []row {
	latency := []metric{
		{Label: "avg rps", AKey: "avg_rps", Goal: goal{Min: 0.9, Max: 1.1}},
		{Label: "request p50", AKey: "request_p50_us", Goal: goal{Min: 0.9, Max: 1.1}},
		{Label: "request p99", AKey: "request_p99_us"},
		{Label: "wakeup p50", AKey: "wakeup_p50_us", Goal: goal{Min: 0.75, Max: 1.25}},
	}
	info := func(ms []metric) []metric {
		out := make([]metric, len(ms))
		for i, m := range ms {
			m.Goal = goal{}
			out[i] = m
		}
		return out
	}
	pipe := []metric{
		{Label: "transfers/s per worker", AKey: "transfer_ops_per_s"},
		{Label: "wakeup p50", AKey: "wakeup_p50_us"},
	}
	sb := func(name string, params map[string]any, flags []string, ms []metric) row {
		p := map[string]any{"message_threads": 1, "worker_threads": 2}
		for k, v := range params {
			p[k] = v
		}
		return row{Name: "Schbench " + name + " vs upstream schbench", Section: sectionPeers,
			A: ktstarSchbench{Params: p}, B: upstreamSchbench{Flags: append([]string{"-m", "1", "-t", "2"}, flags...)}, Metrics: ms}
	}
	return []row{
		sb("default", nil, nil, latency),
		sb("-L", map[string]any{"skip_locking": true}, []string{"-L"}, latency),
		sb("-F 64 -n 1", map[string]any{"cache_footprint_kib": 64, "operations": 1}, []string{"-F", "64", "-n", "1"}, info(latency)),
		sb("-p 8 -t 1", map[string]any{"pipe_bytes": 8, "worker_threads": 1}, []string{"-p", "8", "-t", "1"}, pipe),
	}
}

// ktstarSchbench runs one Schbench worker for schbenchRuntime.
type ktstarSchbench struct{ Params map[string]any }

func (k ktstarSchbench) work() ktstarWork {
	return ktstarWork{Type: "Schbench", Workers: 1, Params: k.Params}
}

func (k ktstarSchbench) Describe() string {
	return k.work().Describe() + fmt.Sprintf(", %v", schbenchRuntime)
}

func (k ktstarSchbench) Missing(e *env) string { return k.work().Missing(e) }

func (k ktstarSchbench) Run(*env, time.Duration, []int) (figures, error) {
	w, err := k.work().work()
	if err != nil {
		return nil, err
	}
	h, err := workload.Spawn(workload.Config{Workers: 1, Work: w})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		return nil, err
	}
	time.Sleep(schbenchRuntime)
	reports, err := h.StopAndCollect()
	if err != nil {
		return nil, err
	}
	s := reports[0].Schbench
	if !reports[0].Completed || s == nil {
		return nil, fmt.Errorf("the worker sent no schbench report (%+v)", reports[0].ExitInfo)
	}
	f := figures{"wakeup_p50_us": float64(s.Wakeup.P50)}
	if s.Pipe != nil {
		f["transfer_ops_per_s"] = s.Pipe.OpsPerSec
		return f, nil
	}
	f["avg_rps"] = s.AverageRPS
	f["request_p50_us"] = float64(s.Request.P50)
	f["request_p99_us"] = float64(s.Request.P99)
	return f, nil
}

// upstreamSchbench runs the binary SCHBENCH names for schbenchRuntime and
// reads its final report (on stderr).
type upstreamSchbench struct{ Flags []string }

func (u upstreamSchbench) args() []string {
	return append(append([]string{}, u.Flags...), "-r", secs(schbenchRuntime))
}

func (u upstreamSchbench) Describe() string {
	return "upstream schbench " + strings.Join(u.args(), " ")
}

func (upstreamSchbench) Missing(*env) string {
	path := os.Getenv("SCHBENCH")
	if path == "" {
		return "SCHBENCH=/path/to/schbench not set (upstream, built from github.com/masoncl/schbench)"
	}
	if _, err := exec.LookPath(path); err != nil {
		return fmt.Sprintf("SCHBENCH=%s: %v", path, err)
	}
	return ""
}

func (u upstreamSchbench) Run(*env, time.Duration, []int) (figures, error) {
	var out bytes.Buffer
	cmd := exec.Command(os.Getenv("SCHBENCH"), u.args()...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("schbench %s: %w: %s", strings.Join(u.args(), " "), err, tail(out.Bytes()))
	}
	f, err := parseSchbench(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("schbench %s: %w: %s", strings.Join(u.args(), " "), err, tail(out.Bytes()))
	}
	return f, nil
}

var (
	sbP50         = regexp.MustCompile(`50\.0th: (\d+)`)
	sbP99         = regexp.MustCompile(`99\.0th: (\d+)`)
	sbAverageRPS  = regexp.MustCompile(`average rps: ([\d.]+)`)
	sbTransferOps = regexp.MustCompile(`avg worker transfer: ([\d.]+) ops/sec`)
)

// parseSchbench reads upstream's final tables: the last wakeup and
// request tables printed (interim reports come before them), average RPS,
// or pipe mode's transfer line.
func parseSchbench(out []byte) (figures, error) {
	table := func(label string) []byte {
		i := bytes.LastIndex(out, []byte(label+" percentiles"))
		if i < 0 {
			return nil
		}
		rest := out[i:]
		if j := bytes.Index(rest, []byte("min=")); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	f := figures{}
	v, err := firstFloat(sbP50, table("Wakeup Latencies"))
	if err != nil {
		return nil, fmt.Errorf("wakeup table: %w", err)
	}
	f["wakeup_p50_us"] = v
	if m := sbTransferOps.FindSubmatch(out); m != nil {
		_, err := fmt.Sscan(string(m[1]), &v)
		f["transfer_ops_per_s"] = v
		return f, err
	}
	req := table("Request Latencies")
	for key, re := range map[string]*regexp.Regexp{"request_p50_us": sbP50, "request_p99_us": sbP99} {
		if f[key], err = firstFloat(re, req); err != nil {
			return nil, fmt.Errorf("request table: %w", err)
		}
	}
	if f["avg_rps"], err = firstFloat(sbAverageRPS, out); err != nil {
		return nil, err
	}
	return f, nil
}
