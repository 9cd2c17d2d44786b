package workload

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCgroupAttachStorm runs the storm into a sibling group in both reap
// modes. Evidence from the kernel: the destination's cgroup.events is
// modified (populated flips) as children arrive and leave, watched with
// inotify; every fork is accounted as an attach or an ESRCH race. After
// the run no child is left (the test is the subreaper, so an orphan
// would come to it; its own children are listed without reaping any) and
// both groups are empty.
func TestCgroupAttachStorm(t *testing.T) {
	for _, reap := range []string{"sig_ign", "waitpid"} {
		t.Run(reap, func(t *testing.T) {
			cg := testGroup(t, "storm")
			sink, err := cg.Parent().NewChild("sink")
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
			before := childPids(t) // children of other tests, not this one's to judge
			ino, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(ino)
			if _, err := unix.InotifyAddWatch(ino, filepath.Join(sink.Path(), "cgroup.events"), unix.IN_MODIFY); err != nil {
				t.Fatal(err)
			}
			work := MustWork("CgroupAttachStorm", map[string]any{"dest": "sink", "reap": reap})
			h := spawnWork(t, Config{Work: work, Cgroup: cg, CgroupParent: cg.Parent()})
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			events := 0
			buf := make([]byte, 4096)
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && events < 4; time.Sleep(5 * time.Millisecond) {
				if n, err := unix.Read(ino, buf); err == nil {
					events += n / unix.SizeofInotifyEvent
				}
			}
			r := stopWork(t, h)[0]
			c := r.Counters
			t.Logf("%d cgroup.events modifications seen; counters %v", events, c)
			if events == 0 {
				t.Errorf("%s/cgroup.events was never modified: no task arrived", sink.Path())
			}
			if c["attaches"] == 0 || c["attach_errors"] != 0 || c["attaches"]+c["attach_esrch"] != c["children_forked"] {
				t.Errorf("counters %v: want attaches, no errors, and every child attached or gone (ESRCH)", c)
			}
			if (reap == "waitpid") != (r.WakeSampleTotal > 0) {
				t.Errorf("reap = %s: %d waitpid samples", reap, r.WakeSampleTotal)
			}
			// Reaped workers are no longer children; a storm child that
			// outlived its worker would have been re-parented to this test.
			h.Close()
			if kids := slices.DeleteFunc(childPids(t), func(k string) bool { return slices.Contains(before, k) }); len(kids) > 0 {
				t.Errorf("after the run: children %v left (re-parented storm children)", kids)
			}
			for _, g := range []interface{ Procs(bool) ([]int, error) }{sink, cg} {
				if pids, err := g.Procs(true); err != nil || len(pids) != 0 {
					t.Errorf("after the run: tasks %v (%v) left in a group", pids, err)
				}
			}
		})
	}
}

func TestCgroupAttachStormRefusals(t *testing.T) {
	for _, dest := range []string{"../../etc", "", "/sys/fs/cgroup", ".hidden", "a/../b"} {
		_, err := NewWork("CgroupAttachStorm", map[string]any{"dest": dest})
		if err == nil || !strings.HasPrefix(err.Error(), "cgroup_attach_storm: dest = ") {
			t.Errorf("dest = %q: %v, want a refusal naming dest", dest, err)
		}
	}
}
