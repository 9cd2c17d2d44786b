package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/topo"
	"golang.org/x/sys/unix"
)

// TestCheckValidates runs `ktstar check` on scripts with one mistake each:
// every one must stop with exit status 2 at the mistake's position, naming
// the parameter, as a real run would; nothing is spawned.
func TestCheckValidates(t *testing.T) {
	online, err := topo.OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	offCPU := slices.Max(online) + 1 // a CPU this host does not have online
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"misspelt keyword", "workload(worker = 2)\n", []string{"s.star:1:9:", `unexpected keyword argument "worker"`, "did you mean workers?"}},
		{"sleep int", "sleep(5)\n", []string{"s.star:1:6:", "sleep: for parameter d: want a duration"}},
		{"sleep bare number", `sleep("5")` + "\n", []string{"s.star:1:6:", `sleep: for parameter d: "5" is not a duration`}},
		{"odd pair workers", "h = spawn(workload(workers = 3, work = work.futex_ping_pong()))\n", []string{"s.star:1:", "workers = 3", "groups of 2"}},
		{"cpu not online", fmt.Sprintf("spawn(workload(workers = 1, affinity = affinity.exact([0, %d])))\n", offCPU), []string{"s.star:1:", fmt.Sprintf("CPU %d", offCPU)}},
		{"fifo priority", "spawn(workload(workers = 1, policy = sched.fifo(100)))\n", []string{"s.star:1:", "priority = 100 is out of range (allowed: 1..99)"}},
		{"nice", "spawn(workload(workers = 1, nice = 25))\n", []string{"s.star:1:", "nice = 25 is out of range (allowed: -20..19)"}},
		{"custom def in main", "def loop(ctx):\n    pass\n\nw = work.custom('x', loop)\n", []string{"s.star:4:", "defined in the main script"}},
		{"cpuset beyond the host", fmt.Sprintf("cgroup.create('x', cpuset = '0-%d')\n", offCPU), []string{"s.star:1:", "cpuset", fmt.Sprintf("CPU %d", offCPU)}},
		{"misspelt type", "work.futex_pingpong()\n", []string{"s.star:1:5:", "did you mean .futex_ping_pong?"}},
		{"after a stop", "h = spawn(workload(workers = 2))\nh.start()\nsleep('1h')\nr = h.stop()\nspawn(workload(workers = len(r), nice = 25))\n", []string{"s.star:5:", "nice = 25"}},
		{"in a scenario", "load('@stdlib//scenario.star', 'scenario', 'step', 'op')\n" +
			"scenario(duration = '1h', steps = [step(ops = [op.spawn('a', workload(workers = 1, nice = 25))])])\n",
			[]string{"s.star:2:", "nice = 25"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := ktstar(t, "", "check", script(t, tc.src))
			if code != exitError {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitError, errs)
			}
			wantAll(t, "stderr", errs, tc.want...)
		})
	}
}

// TestCheckIODeviceMounted names the host's mounted root disk as an
// io_device: check refuses it from stat and /proc alone, never opening it.
func TestCheckIODeviceMounted(t *testing.T) {
	dev := testenv.RootBlockDevice(t)
	before := deviceAccess(t, dev)
	_, errs, code := ktstar(t, "", "check", script(t, fmt.Sprintf("spawn(workload(workers = 1, work = work.io_rand_read(io_device = %q)))\n", dev)))
	if code != exitError || !strings.Contains(errs, fmt.Sprintf("io_device = %q is mounted", dev)) {
		t.Fatalf("exit %d, want %d naming io_device\nstderr:\n%s", code, exitError, errs)
	}
	if after := deviceAccess(t, dev); after != before {
		t.Errorf("%s was opened for writing during the check (mtime %v, then %v)", dev, before, after)
	}
}

// deviceAccess is the modification time of a device node, which an open
// for writing followed by a write would change.
func deviceAccess(t *testing.T, dev string) unix.Timespec {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	return st.Mtim
}

// TestCheckExamples checks every example: all are valid, and a check
// neither sleeps through them nor leaves anything behind.
func TestCheckExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// Every example sleeps for seconds; a minute's timeout passes
			// only when check sleeps through nothing, whatever the load.
			_, errs, code := ktstar(t, "", "--timeout", "1m", "check", f)
			if code != exitOK {
				t.Fatalf("exit %d\nstderr:\n%s", code, errs)
			}
		})
	}
}

// TestCheckActsOnNothing runs a script that would spawn, sleep an hour,
// make a cgroup and look inside it: check goes through all of it at once
// and sees no process in the group.
func TestCheckActsOnNothing(t *testing.T) {
	src := `h = spawn(workload(workers = 2))
h.start()
sleep("1h")
cg = cgroup.create("x")
cg.move(h)
print("pids", h.pids, cg.pids())
r = h.stop()
print(len(r), r[0]["completed"])
`
	out, errs, code := ktstar(t, "", "--timeout", "1m", "check", script(t, src))
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, errs)
	}
	if out != "" {
		t.Errorf("check printed the script's output:\n%s", out)
	}
}
