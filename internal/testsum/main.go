// Command testsum turns `go test -json` on stdin into the plain output of
// `go test` (a line per package, the full output of every failed test)
// followed by the skipped tests counted by reason, so that `make test`
// says what it could not test on this machine and why. It exits 1 when a
// test or a package failed, or the stream held no test result at all.
//
//	go test -json ./... | go run ./internal/testsum
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// skipLine is the message t.Skip logs: "    file_test.go:12: reason".
var skipLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: (.*)$`)

// summary gathers what stdin held.
type summary struct {
	out     io.Writer
	output  map[string][]string // package + "\x00" + test → its output lines
	skips   map[string][]string // reason → "pkg.Test" skipped for it
	failed  bool
	results int // pass, fail and skip events seen
}

func main() {
	s := &summary{out: os.Stdout, output: map[string][]string{}, skips: map[string][]string{}}
	if err := s.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
	s.report()
	if s.failed || s.results == 0 {
		os.Exit(1)
	}
}

// read consumes the event stream; lines that are not JSON (a build
// error go test printed itself) are passed through.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(s.out, sc.Text())
			continue
		}
		s.event(e)
	}
	return sc.Err()
}

func (s *summary) event(e event) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output":
		s.output[key] = append(s.output[key], e.Output)
		return
	case "pass", "fail", "skip":
		s.results++
	default:
		return
	}
	lines := s.output[key]
	delete(s.output, key)
	switch {
	case e.Test == "": // the package's result line is its last output
		if e.Action == "fail" {
			s.failed = true
			for _, l := range lines {
				if !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- PASS") {
					io.WriteString(s.out, l)
				}
			}
		} else if n := len(lines); n > 0 {
			io.WriteString(s.out, lines[n-1])
		}
	case e.Action == "fail":
		s.failed = true
		io.WriteString(s.out, strings.Join(lines, ""))
	case e.Action == "skip":
		reason := "(no reason given)"
		for _, l := range lines {
			if m := skipLine.FindStringSubmatch(strings.TrimRight(l, "\n")); m != nil {
				reason = m[1]
			}
		}
		s.skips[reason] = append(s.skips[reason], shortPkg(e.Package)+"."+e.Test)
	}
}

// shortPkg drops the module path: "github.com/ktstar/ktstar/vm" → "vm".
func shortPkg(p string) string { return strings.TrimPrefix(p, "github.com/ktstar/ktstar/") }

// report prints the skips by reason, the commonest first, naming up to
// three tests each.
func (s *summary) report() {
	if len(s.skips) == 0 {
		return
	}
	reasons := make([]string, 0, len(s.skips))
	total := 0
	for r, tests := range s.skips {
		reasons = append(reasons, r)
		total += len(tests)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if d := len(s.skips[b]) - len(s.skips[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(s.out, "\n%d tests skipped, by reason:\n", total)
	for _, r := range reasons {
		tests := s.skips[r]
		slices.Sort(tests)
		shown := strings.Join(tests[:min(3, len(tests))], ", ")
		if len(tests) > 3 {
			shown += fmt.Sprintf(", … %d more", len(tests)-3)
		}
		fmt.Fprintf(s.out, "%5d  %s\n       (%s)\n", len(tests), r, shown)
	}
}
