package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/result"
)

// ktstrNames are the scenarios of ktstr's all_scenarios() and of its
// curated basic, cpuset, affinity and dynamic families that the catalog
// ports (src/scenario/catalog.rs, scenarios.rs).
var ktstrNames = []string{
	"cgroup_steady", "cgroup_cpuset_llc_steady", "cgroup_cpuset_cross_llc_steady", "cgroup_cpuset_overlap_steady",
	"cgroup_partial_cpus_steady", "cgroup_uneven_steady", "cgroup_oversubscribed", "cgroup_affinity_inherit",
	"cgroup_affinity_random", "cgroup_affinity_spanning", "cgroup_affinity_pinned", "sched_batch", "sched_idle",
	"sched_fifo", "sched_rr", "cgroup_idle_overloaded", "cgroup_all_loaded", "cgroup_llc_overflow",
	"cgroup_load_imbalance", "stall_detect", "cgroup_cpuset_llc_affinity", "cgroup_affinity_change",
	"cgroup_add_midrun", "cgroup_remove_midrun", "cgroup_rapid_churn", "cgroup_cpuset_apply_midrun",
	"cgroup_cpuset_clear_midrun", "cgroup_cpuset_resize", "cgroup_cpuset_numa_swap", "host_cgroup_contention",
	"sched_mixed", "cgroup_pipe_io", "stall_recovery", "nested_cgroup_steady", "nested_cgroup_task_move",
	"cgroup_imbalance_mixed_workload", "cgroup_multicpu_pin", "cgroup_cpuset_multicpu_pin", "cgroup_cpuset_add_remove",
	"cgroup_add_during_imbalance", "cgroup_cpuset_swap_disjoint", "cgroup_cpuset_workload_imbalance",
	"cgroup_cpuset_change_imbalance", "cgroup_cpuset_load_shift", "cgroup_load_oscillation", "cgroup_4way_load_imbalance",
	"cgroup_cpuset_overlap_imbalance", "cgroup_cpuset_overlap_load_imbalance", "cgroup_bursty_imbalance",
	"cgroup_bursty_load_shift", "cgroup_cpuset_imbalance_combined", "cgroup_per_cpu", "fork_exit_churn", "nice_sweep",
	"affinity_churn", "policy_churn", "page_fault_churn", "mutex_contention_light", "mutex_contention_heavy",
	"cgroup_io_compute_imbalance", "cache_pressure_imbalance", "cache_yield_wake_affine", "cache_pipe_io_compute_imbalance",
	"fan_out_wake", "fan_out_compute",
}

// TestCatalogList: every ported scenario is listed once, with its family,
// the topology it needs and ktstr's flags, in the order of the module.
func TestCatalogList(t *testing.T) {
	out, errs, code := ktstar(t, "", "catalog", "list")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(`^NAME\s+FAMILY\s+NEEDS\s+FLAGS\s+DESCRIPTION$`).MatchString(lines[0]) {
		t.Fatalf("header %q", lines[0])
	}
	entries, err := catalogEntries()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines)-1 != len(entries) {
		t.Fatalf("%d rows for %d entries:\n%s", len(lines)-1, len(entries), out)
	}
	byName := map[string]catalogEntry{}
	for _, e := range entries {
		byName[e.name] = e
	}
	for name, want := range map[string]catalogNeeds{
		"cgroup_steady":               {},
		"cgroup_cpuset_llc_steady":    {llcs: 2, cpusets: true},
		"cgroup_cpuset_numa_swap":     {nodes: 2, cpusets: true},
		"cgroup_cpuset_swap_disjoint": {cpus: 8, cpusets: true},
	} {
		if got := byName[name].needs; got != want {
			t.Errorf("%s needs %+v, want %+v", name, got, want)
		}
	}
	if e := byName["cgroup_affinity_change"]; len(e.flags) != 0 || strings.Join(e.excluded, ",") != "reject-pin" {
		t.Errorf("cgroup_affinity_change flags %q, excluded %q; want none and reject-pin", e.flags, e.excluded)
	}
	rows := map[string]string{}
	for i, l := range lines[1:] {
		name := strings.Fields(l)[0]
		if name != entries[i].name {
			t.Errorf("row %d is %q, want %q (the module's order)", i, name, entries[i].name)
		}
		if _, dup := rows[name]; dup {
			t.Errorf("%s listed twice", name)
		}
		rows[name] = l
	}
	for _, n := range ktstrNames {
		if rows[n] == "" {
			t.Errorf("ktstr's %s is not listed", n)
		}
	}
	for name, want := range map[string]string{
		"cgroup_steady":               `cgroup_steady\s+basic\s+any\s+-\s+2 cgroups, no cpusets, equal load$`,
		"cgroup_cpuset_llc_steady":    `\s+basic\s+2 LLCs, cpusets\s+-\s+`,
		"cgroup_cpuset_numa_swap":     `\s+cpuset\s+2 NUMA nodes, cpusets\s+-\s+`,
		"cgroup_cpuset_swap_disjoint": `\s+cpuset\s+8 CPUs, cpusets\s+-\s+`,
		"cgroup_llc_overflow":         `\s+advanced\s+any\s+llc\+steal\s+`,
		"cgroup_affinity_change":      `\s+affinity\s+any\s+-\s+`,
	} {
		if !regexp.MustCompile(want).MatchString(rows[name]) {
			t.Errorf("row %q does not match %s", rows[name], want)
		}
	}
}

// TestCatalogShow: an entry's parameters, the common ones then its own,
// each with its kind, default and range, as --set checks them.
func TestCatalogShow(t *testing.T) {
	out, errs, code := ktstar(t, "", "catalog", "show", "cgroup_uneven_steady")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		`(?m)^cgroup_uneven_steady \(stress\): 2 cgroups, 75/25 CPU split\n  needs: cpusets$`,
		`(?m)^\s+duration\s+duration\s+2s\s+100ms to 1h\s+`,
		`(?m)^\s+not_starved\s+bool\s+True\s+true or false\s+`,
		`(?m)^\s+split\s+float\s+0\.75\s+0\.05 to 0\.95\s+fraction of the usable CPUs given to cg_0$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", want, out)
		}
	}
	if strings.Index(out, "    max_gap_ms ") > strings.Index(out, "    split ") {
		t.Errorf("the entry's own parameter comes before the common ones:\n%s", out)
	}
	if _, errs, code := ktstar(t, "", "catalog", "show", "no_such"); code != exitError || !strings.Contains(errs, `no scenario "no_such"`) {
		t.Errorf("show no_such: exit %d, stderr %q", code, errs)
	}
}

// TestCatalogSet: a bad --set is a script error (exit 2) naming the
// scenario, the parameter and what it allows, before anything runs.
func TestCatalogSet(t *testing.T) {
	common := "duration, settle, workers_per_cgroup, load, max_spread_pct, max_gap_ms, not_starved"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown", []string{"cgroup_steady", "--set", "bogus=1"}, `catalog cgroup_steady: no parameter "bogus" (parameters: ` + common + `)`},
		{"another's", []string{"cgroup_steady", "--set", "split=0.5"}, `no parameter "split"`},
		{"own listed", []string{"cgroup_uneven_steady", "--set", "bogus=1"}, `(parameters: ` + common + `, split)`},
		{"own range", []string{"cgroup_uneven_steady", "--set", "split=1"}, `catalog cgroup_uneven_steady: parameter split = "1" is out of range (allowed: 0.05 to 0.95)`},
		{"float range", []string{"cgroup_steady", "--set", "load=40"}, `parameter load = "40" is out of range (allowed: 0.1 to 16.0)`},
		{"not a number", []string{"cgroup_steady", "--set", "load=lots"}, `parameter load = "lots": want a number (allowed: 0.1 to 16.0)`},
		{"int", []string{"cgroup_steady", "--set", "workers_per_cgroup=2.5"}, `parameter workers_per_cgroup = "2.5": want a whole number (allowed: 1 to 256)`},
		{"int range", []string{"cgroup_steady", "--set", "workers_per_cgroup=0"}, `parameter workers_per_cgroup = "0" is out of range (allowed: 1 to 256)`},
		{"bool", []string{"cgroup_steady", "--set", "not_starved=maybe"}, `parameter not_starved = "maybe": want true or false`},
		{"duration", []string{"cgroup_steady", "--set", "duration=fast"}, `parameter duration = "fast": want a duration such as "500ms" (allowed: 100ms to 1h)`},
		{"duration unit", []string{"cgroup_steady", "--set", "duration=2"}, `parameter duration = "2": want a duration`},
		{"duration range", []string{"cgroup_steady", "--set", "duration=50ms"}, `parameter duration = "50ms" is out of range (allowed: 100ms to 1h)`},
		{"own duration", []string{"cgroup_rapid_churn", "--set", "cycle=1h"}, `parameter cycle = "1h" is out of range (allowed: 10ms to 10s)`},
		{"no scenario", []string{"no_such"}, `catalog: no scenario "no_such" (scenarios: cgroup_steady, `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := ktstar(t, "", append([]string{"catalog", "run"}, tc.args...)...)
			if code != exitError || !strings.Contains(errs, tc.want) || strings.Contains(out, "catalog:") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 2 and %q", code, out, errs, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"catalog"}, {"catalog", "show"}, {"catalog", "run"}, {"catalog", "list", "x"}, {"catalog", "run", "a", "b"}} {
		if _, errs, code := ktstar(t, "", args...); code != exitError || !strings.Contains(errs, "ktstar catalog") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a usage error", args, code, errs)
		}
	}
}

// TestCatalogUnmet: what an entry needs against machines of several
// shapes (the rule run applies to this machine's topo), machine-free.
func TestCatalogUnmet(t *testing.T) {
	s := script(t, `load("@stdlib//catalog.star", "unmet")
for name, shape in [
    ("cgroup_steady", (1, 1, 1, "no cpuset controller")),
    ("cgroup_cpuset_llc_steady", (4, 1, 1, True)),
    ("cgroup_cpuset_llc_steady", (4, 2, 1, True)),
    ("cgroup_cpuset_llc_steady", (4, 2, 1, "no cpuset controller")),
    ("cgroup_cpuset_numa_swap", (8, 2, 1, True)),
    ("cgroup_cpuset_numa_swap", (8, 2, 2, True)),
    ("cgroup_cpuset_swap_disjoint", (4, 2, 2, True)),
    ("cgroup_add_midrun", (3, 1, 1, True)),
    ("cgroup_remove_midrun", (3, 1, 1, True)),
]:
    print(name, unmet(name, *shape))
`)
	out, errs, code := ktstar(t, "", s)
	want := `cgroup_steady None
cgroup_cpuset_llc_steady needs 2 LLCs, this machine has 1
cgroup_cpuset_llc_steady None
cgroup_cpuset_llc_steady needs cpusets: no cpuset controller
cgroup_cpuset_numa_swap needs 2 NUMA nodes, this machine has 1
cgroup_cpuset_numa_swap None
cgroup_cpuset_swap_disjoint needs 8 CPUs, this machine has 4
cgroup_add_midrun needs 4 CPUs, this machine has 3
cgroup_remove_midrun None
`
	if code != 0 || out != want {
		t.Fatalf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, out, want, errs)
	}
}

// TestCatalogSkip: on this machine, a scenario whose needs it lacks is
// a skip with the reason and exit status 0, before any cgroup is made.
func TestCatalogSkip(t *testing.T) {
	facts, errs, code := ktstar(t, "", script(t, "print(len(topo.cpus), cgroup.cpuset_available())\n"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	f := strings.Fields(facts)
	cpus, _ := strconv.Atoi(f[0])
	ran := false
	if cpus < 8 {
		ran = true
		out, errs, code := ktstar(t, "", "catalog", "run", "cgroup_cpuset_swap_disjoint", "--set", "duration=1s")
		want := "catalog: cgroup_cpuset_swap_disjoint: skip: needs 8 CPUs, this machine has " + f[0] + "\n"
		if code != 0 || out != want {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and %q", code, out, errs, want)
		}
	}
	if f[1] == "False" {
		ran = true
		out, errs, code := ktstar(t, "", "catalog", "run", "cgroup_cpuset_apply_midrun")
		if code != 0 || !strings.HasPrefix(out, "catalog: cgroup_cpuset_apply_midrun: skip: needs cpusets: ") {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and a skip naming cpusets", code, out, errs)
		}
	}
	if !ran {
		t.Skip("this machine has 8 CPUs or more and cpusets: nothing here is a skip (TestCatalogUnmet covers the rule)")
	}
}

// TestCatalogRun runs two entries that need no cpusets on this machine:
// each passes, --json names the entry and records its --set values, and
// the scenario's checks judged every cgroup's workers where they ended;
// the nested one removes its groups children first.
func TestCatalogRun(t *testing.T) {
	testenv.NeedCgroupV2(t)
	for _, tc := range []struct {
		name   string
		scopes []string // the units judged
	}{
		{"cgroup_steady", []string{"step 0 cg_0", "step 0 cg_1"}},
		// Its workers start in cg_0/sub and end in cg_1, where they are judged.
		{"nested_cgroup_task_move", []string{"backdrop cg_1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.json")
			// Spread and gap are the machine's load, not the catalog's: off.
			out, errs, code := ktstar(t, "", "-q", "--json", path, "catalog", "run", tc.name, "--set", "duration=400ms",
				"--set", "workers_per_cgroup=2", "--set", "max_spread_pct=100", "--set", "max_gap_ms=600000")
			if code != 0 || out != "catalog: "+tc.name+": pass\n" {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			var doc result.Doc
			readJSON(t, path, &doc)
			if doc.Script != "catalog:"+tc.name || doc.Params["duration"] != "400ms" {
				t.Errorf("script %q, params %v", doc.Script, doc.Params)
			}
			judged := map[string]bool{}
			for _, c := range doc.Checks {
				for _, o := range c.Outcomes {
					if o.Check == "not_starved" && o.Status == checks.Pass {
						judged[o.Scope] = true
					}
				}
			}
			if len(judged) != len(tc.scopes) {
				t.Errorf("not_starved passed for %v, want exactly %q", judged, tc.scopes)
			}
			for _, scope := range tc.scopes {
				if !judged[scope] {
					t.Errorf("no not_starved pass for %q among %v", scope, judged)
				}
			}
		})
	}
}

// TestGuestCatalog is the acceptance run: every entry of the
// catalog, one after another in a 4-vCPU guest of 2 LLCs, passes on the
// kernel's scheduler or skips for a need the guest lacks. Under TCG on a
// loaded 2-core host a vCPU can stall for seconds and a worker spawns in
// about a second, so the run is shorter and smaller than ktstr's defaults
// (load, workers_per_cgroup) and its spread and gap limits looser (load
// decides those there, not the scheduler): what it shows is that each
// scenario builds, runs its steps, and its workers are judged, at least
// on not_starved.
func TestGuestCatalog(t *testing.T) {
	guestOrSkip(t)
	entries, err := catalogEntries()
	if err != nil {
		t.Fatal(err)
	}
	// sched_mixed's SCHED_IDLE workers share every CPU with spinners of
	// weight 1024 and get about 0.3 % of one: natively that is work,
	// under TCG on a loaded host it can be none, so only there is
	// not_starved off. The entries to run come as params["names"].
	s := script(t, `load("@stdlib//catalog.star", "catalog", "run")
print("llcs", len(topo.llcs))
tcg = {"sched_mixed": {"not_starved": "false"}}
names = params["names"].split(",")
for e in catalog:
    if e.name not in names:
        continue
    p = {k: v for k, v in params.items() if k != "names"}
    p.update(tcg.get(e.name, {}))
    run(e.name, p)
`)
	verdict := regexp.MustCompile(`(?m)^catalog: (\w+): (pass|skip: .*)$`)
	got := map[string]string{}
	// One guest runs the catalog in order. An entry that fails ends that
	// guest's script; a host stall under TCG can starve a worker through
	// a short step, so the failed entry gets one more try in a new guest,
	// from where the first stopped. A second failure of it fails the test.
	tried := map[string]bool{}
	for rest := entries; len(rest) > 0; {
		var names []string
		for _, e := range rest {
			names = append(names, e.name)
		}
		out, errs, code := ktstarVM(t, "", "--preset", "tiny-2llc", "--timeout", "25m",
			"--set", "names="+strings.Join(names, ","),
			"--set", "duration=3s", "--set", "workers_per_cgroup=2", "--set", "load=0.25",
			"--set", "max_spread_pct=100", "--set", "max_gap_ms=60000", s)
		t.Logf("guest for %d entries: exit %d\nstdout:\n%s", len(names), code, out)
		if !strings.Contains(out, "llcs 2\n") {
			t.Fatalf("exit %d: the guest did not see 2 LLCs\nstderr:\n%s", code, errs)
		}
		for _, m := range verdict.FindAllStringSubmatch(out, -1) {
			got[m[1]] = m[2]
		}
		i := 0
		for i < len(rest) && got[rest[i].name] != "" {
			i++
		}
		if i == len(rest) {
			break
		}
		failed := rest[i].name
		if code == 0 || tried[failed] {
			t.Fatalf("%s: no verdict (exit %d)\nstderr:\n%s", failed, code, errs)
		}
		tried[failed] = true
		t.Logf("%s failed once (exit %d); trying it again from there\nstderr:\n%s", failed, code, errs)
		rest = rest[i:]
	}
	for _, e := range entries {
		if v := got[e.name]; strings.HasPrefix(v, "skip") && !regexp.MustCompile(`^skip: needs \d+ (CPUs|LLCs|NUMA nodes), this machine has \d+$`).MatchString(v) {
			t.Errorf("%s: %s; a 4-vCPU 2-LLC guest with cpusets skips only for a topology it lacks", e.name, v)
		}
	}
	if got["cgroup_cpuset_swap_disjoint"] != "skip: needs 8 CPUs, this machine has 4" || got["cgroup_cpuset_llc_steady"] != "pass" {
		t.Errorf("verdicts %v", got)
	}
}
