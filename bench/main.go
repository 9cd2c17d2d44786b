// Command bench compares ktstar's work types with small C reference
// programs and with installed benchmark tools, side by side in one run, as
// ratios: each row runs ktstar (A) and its reference (B) alternately,
// A B A B …, for the same duration and affinity, so noise on a shared
// machine falls on both sides. It also measures ktstar's spawn cost and the
// memory of an idle worker. Run it as `go run ./bench` or `make bench`; see
// BENCHMARKS.md for what each figure means.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/workload"
	"golang.org/x/sys/unix"
)

func main() {
	// Workers are this binary re-executed: route them first.
	workload.Init()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	pairs := fl.Int("pairs", 7, "A B pairs per row (at least 1; 5 or more for a published table)")
	dur := fl.Duration("duration", time.Second, "length of each run")
	cpuList := fl.String("cpus", "", "CPUs for pinned rows, worker i on the i-th mod n (default: every online CPU)")
	jsonPath := fl.String("json", "bench-results.json", "where to write every figure as JSON (\"\" for none)")
	only := fl.String("only", "", "run only rows whose name matches this regular expression")
	list := fl.Bool("list", false, "list the rows and exit")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *pairs < 1 {
		fmt.Fprintf(stderr, "bench: -pairs = %d, want at least 1\n", *pairs)
		return 2
	}
	if *dur < 10*time.Millisecond {
		fmt.Fprintf(stderr, "bench: -duration = %v, want at least 10ms\n", *dur)
		return 2
	}
	var cpus []int
	var err error
	if *cpuList == "" {
		cpus, err = topo.OnlineCPUs()
	} else {
		cpus, err = workload.ParseCPUList(*cpuList)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: -cpus %q: %v\n", *cpuList, err)
		return 2
	}
	var filter *regexp.Regexp
	if *only != "" {
		if filter, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(stderr, "bench: -only %q: %v\n", *only, err)
			return 2
		}
	}
	var rs []row
	for _, r := range rows() {
		if filter == nil || filter.MatchString(r.Name) {
			rs = append(rs, r)
		}
	}
	if *list {
		for _, r := range rs {
			fmt.Fprintln(stdout, r.Name)
		}
		return 0
	}

	tmp, err := os.MkdirTemp("", "ktstar-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	e := newEnv(tmp)
	res := result{
		Host: hostInfo(), Pairs: *pairs, Duration: dur.String(), CPUs: workload.FormatCPUList(cpus),
		Rows: runRows(e, rs, options{Pairs: *pairs, Duration: *dur, CPUs: cpus}, stderr),
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, res)
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err == nil {
			err = writeJSON(f, res)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: write %s: %v\n", *jsonPath, err)
			return 1
		}
		fmt.Fprintf(stdout, "\nevery figure (min, median, max per pair): %s\n", *jsonPath)
	}
	return 0
}

// newEnv builds the C references into tmp and finds bin/ktstar.
func newEnv(tmp string) *env {
	e := &env{tmp: tmp, cbin: filepath.Join(tmp, "c")}
	if _, err := buildC(e.cbin); err != nil {
		e.cbin, e.cbinErr = "", err.Error()
	}
	if p, err := filepath.Abs(filepath.Join("bin", "ktstar")); err == nil {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			e.ktstarBin = p
		}
	}
	return e
}

func hostInfo() host {
	h := host{Time: time.Now().UTC().Format(time.RFC3339)}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if cpus, err := topo.OnlineCPUs(); err == nil {
		h.CPUs = len(cpus)
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}
