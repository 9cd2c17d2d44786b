package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/result"
)

// verdictScenario has three steps of two spinner cgroups each. The
// scenario's layer sets a gap limit no run reaches; step 2's layer adds an
// iteration rate no worker reaches, which cgroup "quiet" turns off again,
// so the one failure is step 2's cgroup "loud". STEP2 is step 2's checks.
const verdictScenario = `load("@stdlib//scenario.star", "cgroup_def", "hold", "scenario", "step")
def defs():
    return [cgroup_def("loud", workers = 2), cgroup_def("quiet", checks = {"min_iteration_rate": False})]
res = scenario(
    duration = "3s",
    checks = {"max_gap_ms": 1e9},
    steps = [
        step(cgroups = defs(), hold = hold.fixed("30ms")),
        step(cgroups = defs(), hold = hold.fixed("30ms")),
        step(cgroups = defs(), hold = hold.fixed("30ms"), checks = STEP2),
    ],
)
print(len(res.verdicts), " ".join(["%s/%s/%s/%s" % (v["step"], v["cgroup"], v["check"], v["status"]) for v in res.verdicts]))
`

// TestScenarioVerdictFailsInStep names the step, cgroup, check,
// threshold, observed value and worst worker of the one check that fails,
// exits 1, and still lists every verdict in --json.
func TestScenarioVerdictFailsInStep(t *testing.T) {
	testenv.NeedCgroupV2(t)
	path := filepath.Join(t.TempDir(), "out.json")
	s := script(t, strings.Replace(verdictScenario, "STEP2", `{"min_iteration_rate": 1e15}`, 1))
	out, errs, code := ktstar(t, "", "--color=never", "--json", path, s)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr:\n%s", code, exitFail, out, errs)
	}
	if out != "" {
		t.Errorf("the script went on after the failed check: %q", out)
	}
	msg := regexp.MustCompile(`scenario: 1 check\(s\) failed:\n` +
		`  min_iteration_rate \[step 2 loud\]: FAIL, observed [0-9.e+]+ iter/s, threshold ≥ 1e\+15 iter/s; worst worker tid \d+ \(group 0\)\n`)
	if !msg.MatchString(errs) {
		t.Fatalf("stderr does not match %s:\n%s", msg, errs)
	}
	var doc struct {
		Checks []struct {
			Call, Function, Verdict string
			Outcomes                []map[string]any
		}
	}
	b := readJSON(t, path, &doc)
	var got []string
	for _, c := range doc.Checks {
		for _, o := range c.Outcomes {
			got = append(got, c.Call+":"+o["check"].(string)+"="+o["status"].(string))
		}
	}
	want := []string{
		"step 0 loud:max_gap_ms=pass", "step 0 quiet:max_gap_ms=pass",
		"step 1 loud:max_gap_ms=pass", "step 1 quiet:max_gap_ms=pass",
		"step 2 loud:max_gap_ms=pass", "step 2 loud:min_iteration_rate=fail",
		"step 2 quiet:max_gap_ms=pass",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("--json checks:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), b)
	}
}

// TestScenarioVerdictsPass: with nothing failing the script goes on
// (exit 0) and res.verdicts, like --json, has every verdict.
func TestScenarioVerdictsPass(t *testing.T) {
	testenv.NeedCgroupV2(t)
	path := filepath.Join(t.TempDir(), "out.json")
	s := script(t, strings.Replace(verdictScenario, "STEP2", `checks.settings(max_gap_ms = 2e9)`, 1))
	out, errs, code := ktstar(t, "", "--color=never", "--json", path, s)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errs)
	}
	want := "6 0/loud/max_gap_ms/pass 0/quiet/max_gap_ms/pass 1/loud/max_gap_ms/pass 1/quiet/max_gap_ms/pass 2/loud/max_gap_ms/pass 2/quiet/max_gap_ms/pass\n"
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	var doc struct {
		Checks []struct {
			Call     string
			Verdict  string
			Outcomes []map[string]any
		}
	}
	b := readJSON(t, path, &doc)
	if len(doc.Checks) != 6 {
		t.Fatalf("--json has %d check calls, want 6:\n%s", len(doc.Checks), b)
	}
	for _, c := range doc.Checks {
		if c.Verdict != "pass" || len(c.Outcomes) != 1 || c.Outcomes[0]["threshold"] == nil {
			t.Errorf("%+v", c)
		}
	}
	if doc.Checks[5].Call != "step 2 quiet" || doc.Checks[5].Outcomes[0]["threshold"] != 2e9 {
		t.Errorf("step 2's layer did not replace the scenario's threshold: %+v", doc.Checks[5])
	}
	if !strings.Contains(errs, "✓ max_gap_ms [step 2 quiet]: PASS") {
		t.Errorf("summary lacks the scenario's verdicts:\n%s", errs)
	}
}

// overrideScenario's step gives its cgroups as a function of the context
// and prints each cgroup's worker count, then the usable CPUs.
const overrideScenario = `load("@stdlib//scenario.star", "cgroup_def", "hold", "scenario", "step", "work_spec")
def defs(ctx):
    return [
        cgroup_def("swap", swappable = True),
        cgroup_def("keep"),
        cgroup_def("two", swappable = True, works = [work_spec(workers = 1), work_spec(workers_pct = 1.0, work = work.spin_wait())]),
        cgroup_def("odd", swappable = True, workers = 3),
        cgroup_def("even", swappable = True, workers = 2),
        cgroup_def("step%d" % ctx.step, workers = 1, work = work.yield_heavy()),
    ]
res = scenario(duration = "2s", steps = [step(cgroups = defs, hold = hold.fixed("10ms"))], work_override = OVERRIDE)
print(" ".join(["%s=%d" % (k, len(v)) for k, v in res.steps[0].items()]), len(topo.usable_cpus))
`

// TestWorkOverride checks --work-override and scenario(work_override =):
// swappable defs' SpinWait becomes the override and the others keep
// theirs; an override whose group size does not divide the worker count
// keeps the base; workers_pct = 1.0 is one worker per usable CPU (no
// cpuset here). The work types come from --json's runs, in spawn order:
// swap, keep, two's two specs, odd, even, step0.
func TestWorkOverride(t *testing.T) {
	testenv.NeedCgroupV2(t)
	for _, tc := range []struct {
		name, override string
		flags          []string
		want           func(evenCPUs bool) string
	}{
		{"flag", "None", []string{"--work-override", "yield_heavy"}, func(bool) string {
			return "YieldHeavy SpinWait YieldHeavy YieldHeavy YieldHeavy YieldHeavy YieldHeavy"
		}},
		{"argument over flag", `"FutexPingPong"`, []string{"--work-override", "YieldHeavy"}, func(even bool) string {
			pct := "SpinWait" // FutexPingPong's pairs need an even count
			if even {
				pct = "FutexPingPong"
			}
			return "SpinWait SpinWait SpinWait " + pct + " SpinWait FutexPingPong YieldHeavy"
		}},
		{"none", "None", nil, func(bool) string { return "SpinWait SpinWait SpinWait SpinWait SpinWait SpinWait YieldHeavy" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := script(t, strings.Replace(overrideScenario, "OVERRIDE", tc.override, 1))
			path, out, _ := runToJSON(t, append(append([]string{"-q"}, tc.flags...), s)...)
			f := strings.Fields(out)
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				t.Fatalf("stdout %q", out)
			}
			if got, want := strings.Join(f[:len(f)-1], " "), fmt.Sprintf("swap=1 keep=1 two=%d odd=3 even=2 step0=1", 1+n); got != want {
				t.Errorf("workers per cgroup %s, want %s", got, want)
			}
			var doc result.Doc
			b := readJSON(t, path, &doc)
			var got []string
			for _, r := range doc.Runs {
				got = append(got, r.Workload.Work.Name())
			}
			if want := tc.want(n%2 == 0); strings.Join(got, " ") != want {
				t.Errorf("work types %v, want %s\n%s", got, want, b)
			}
		})
	}
}

// TestWorkOverrideUnknown: a name the catalog lacks is a usage error.
func TestWorkOverrideUnknown(t *testing.T) {
	_, errs, code := ktstar(t, "", "--work-override", "SpinWaitt", "x.star")
	if code != exitError || !strings.Contains(errs, "ktstar: --work-override: ") || !strings.Contains(errs, "SpinWait") {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
}
