package workload

import (
	"errors"
	"fmt"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
)

// attachStormTypes holds CgroupAttachStorm: cgroup attach racing the
// attached task's fork and exit.
var attachStormTypes = []Type{{
	Name: "CgroupAttachStorm", Ctor: "cgroup_attach_storm",
	Doc:         "Fork a child that exits at once and move it into the sibling group dest (cgroup.procs), racing its exit; waitpid mode times the reap (a wake sample).",
	NotAsThread: "it forks children and ignores SIGCHLD, which is process-wide: the other workers of the process would lose their children's exits",
	Params: []Param{
		{Name: "dest", Kind: KindString, Default: "dest", Doc: "the group to move children into, relative to the parent of the worker's group (\"sink\", \"a/b\"); it must exist and lie inside the run's group"},
		{Name: "reap", Kind: KindEnum, Default: "sig_ign", Choices: []string{"sig_ign", "waitpid"}, Doc: "sig_ign: children reap themselves (SIGCHLD ignored), so the move races the exit; waitpid: each child is waited for"},
	},
	Validate: func(w Work) error {
		if err := cgroupfs.ValidateName(w.Text("dest")); err != nil {
			return fmt.Errorf("dest = %q: %w", w.Text("dest"), err)
		}
		return nil
	},
	Sample:    SampleWaitpid,
	Placement: &Placement{Acts: "CgroupAttachStorm moves children into a sibling of its cgroup", Dirs: attachStormDest},
	New:       newAttachStorm,
}}

// attachStormDest resolves dest next to the worker's group and checks,
// before any worker starts, that it is inside the run's group and that
// its cgroup.procs can be written: an unusable destination is a spawn
// error, never a storm that silently does nothing.
func attachStormDest(cfg Config, own string) ([]string, error) {
	dest := cfg.Work.Text("dest")
	dir := path.Join(path.Dir(own), dest)
	if run := cfg.CgroupParent.Path(); !strings.HasPrefix(dir, run+"/") {
		return nil, fmt.Errorf("dest = %q resolves to %s, outside the run's group %s", dest, dir, run)
	}
	procs := filepath.Join(dir, "cgroup.procs")
	fd, err := unix.Open(procs, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dest = %q: open %s for writing: %w (create the group first, e.g. cgroup.create(%q))", dest, procs, err, dest)
	}
	unix.Close(fd)
	return []string{procs}, nil
}

type attachStorm struct {
	w       *Worker
	procs   string // the destination's cgroup.procs
	fd      int    // open for writing; -1 after an error other than ESRCH
	buf     [24]byte
	waitpid bool
	ws      unix.WaitStatus
}

func newAttachStorm(w *Worker) (Body, error) {
	if len(w.spec.CgroupDirs) == 0 {
		return nil, errors.New("no destination (Spawn passes it after Placement.Dirs)")
	}
	b := &attachStorm{w: w, procs: w.spec.CgroupDirs[0], waitpid: w.work.Enum("reap") == "waitpid"}
	fd, err := unix.Open(b.procs, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", b.procs, err)
	}
	b.fd = fd
	if !b.waitpid {
		// Children that exit are reaped by the kernel, never zombies.
		signal.Ignore(syscall.SIGCHLD)
	}
	for _, c := range []string{"children_forked", "attaches", "attach_esrch", "attach_errors", "fork_errors"} {
		w.Count(c, 0)
	}
	return b, nil
}

func (b *attachStorm) Step() bool {
	w := b.w
	w.AddUnits(1)
	pid, errno := forkExit()
	if errno != 0 {
		w.Count("fork_errors", 1)
		schedYield()
		return true
	}
	w.Count("children_forked", 1)
	if b.fd < 0 {
		if fd, err := unix.Open(b.procs, unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			b.fd = fd
		}
	}
	if b.fd >= 0 {
		// One write of the decimal pid moves the child's whole process.
		switch _, err := unix.Write(b.fd, strconv.AppendInt(b.buf[:0], int64(pid), 10)); err {
		case nil:
			w.Count("attaches", 1)
		case unix.ESRCH: // the child was gone already: the race this type provokes
			w.Count("attach_esrch", 1)
		default:
			w.Count("attach_errors", 1)
			unix.Close(b.fd)
			b.fd = -1
		}
	} else {
		w.Count("attach_errors", 1)
	}
	if b.waitpid {
		t0 := nanotime()
		for {
			if _, err := unix.Wait4(pid, &b.ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		w.WakeSample(nanotime() - t0)
	}
	return true
}

// Close closes the destination's cgroup.procs and waits until the last
// child has exited, so none outlives the worker to be re-parented: with
// SIGCHLD ignored, wait4 blocks until every child is gone and then fails
// with ECHILD; in waitpid mode each child was already reaped.
func (b *attachStorm) Close() {
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	for {
		if _, err := unix.Wait4(-1, &b.ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}
