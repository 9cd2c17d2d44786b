package main

import (
	"strings"
	"testing"
)

// stream is `go test -json` output of two packages: vm with a skipped
// and a passing test, cmd/ktstar with a failed one and a skip.
const stream = `{"Action":"run","Package":"github.com/ktstar/ktstar/vm","Test":"TestGuestBoot"}
{"Action":"output","Package":"github.com/ktstar/ktstar/vm","Test":"TestGuestBoot","Output":"=== RUN   TestGuestBoot\n"}
{"Action":"output","Package":"github.com/ktstar/ktstar/vm","Test":"TestGuestBoot","Output":"    guest_test.go:55: testenv: guest test: qemu-system-x86_64 not installed\n"}
{"Action":"output","Package":"github.com/ktstar/ktstar/vm","Test":"TestGuestBoot","Output":"--- SKIP: TestGuestBoot (0.00s)\n"}
{"Action":"skip","Package":"github.com/ktstar/ktstar/vm","Test":"TestGuestBoot"}
{"Action":"output","Package":"github.com/ktstar/ktstar/vm","Test":"TestFrame","Output":"--- PASS: TestFrame (0.00s)\n"}
{"Action":"pass","Package":"github.com/ktstar/ktstar/vm","Test":"TestFrame"}
{"Action":"output","Package":"github.com/ktstar/ktstar/vm","Output":"ok  \tgithub.com/ktstar/ktstar/vm\t0.1s\n"}
{"Action":"pass","Package":"github.com/ktstar/ktstar/vm"}
{"Action":"output","Package":"github.com/ktstar/ktstar/cmd/ktstar","Test":"TestGuestJSON","Output":"    vm_test.go:9: testenv: guest test: qemu-system-x86_64 not installed\n"}
{"Action":"skip","Package":"github.com/ktstar/ktstar/cmd/ktstar","Test":"TestGuestJSON"}
{"Action":"output","Package":"github.com/ktstar/ktstar/cmd/ktstar","Test":"TestCheck","Output":"    check_test.go:3: exit 0, want 2\n"}
{"Action":"output","Package":"github.com/ktstar/ktstar/cmd/ktstar","Test":"TestCheck","Output":"--- FAIL: TestCheck (0.01s)\n"}
{"Action":"fail","Package":"github.com/ktstar/ktstar/cmd/ktstar","Test":"TestCheck"}
{"Action":"output","Package":"github.com/ktstar/ktstar/cmd/ktstar","Output":"FAIL\tgithub.com/ktstar/ktstar/cmd/ktstar\t0.2s\n"}
{"Action":"fail","Package":"github.com/ktstar/ktstar/cmd/ktstar"}
`

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		failed   bool
		want     []string
		not      []string
	}{
		{"skips and a failure", stream, true, []string{
			"ok  \tgithub.com/ktstar/ktstar/vm\t0.1s\n",
			"check_test.go:3: exit 0, want 2\n--- FAIL: TestCheck",
			"FAIL\tgithub.com/ktstar/ktstar/cmd/ktstar",
			"2 tests skipped, by reason:\n    2  testenv: guest test: qemu-system-x86_64 not installed\n       (cmd/ktstar.TestGuestJSON, vm.TestGuestBoot)\n",
		}, []string{"TestFrame", "=== RUN"}},
		{"a build error passes through", "# github.com/ktstar/ktstar/vm\nvm/run.go:1:1: syntax error\n" +
			`{"Action":"fail","Package":"github.com/ktstar/ktstar/vm"}` + "\n", true,
			[]string{"vm/run.go:1:1: syntax error"}, []string{"skipped"}},
		{"nothing ran", "", false, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			s := &summary{out: &out, output: map[string][]string{}, skips: map[string][]string{}}
			if err := s.read(strings.NewReader(tc.in)); err != nil {
				t.Fatal(err)
			}
			s.report()
			if s.failed != tc.failed {
				t.Errorf("failed = %v, want %v", s.failed, tc.failed)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
