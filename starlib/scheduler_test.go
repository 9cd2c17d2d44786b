package starlib_test

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ktstar/ktstar/internal/standin"
	"github.com/ktstar/ktstar/starlib"
)

// TestSchedulerModule starts the stand-in from a script, reads its state
// from fixture sysfs files (this kernel may have no sched_ext), attaches to
// a process the test started, and checks that ending the run stopped the
// started one and left the attached one alive.
func TestSchedulerModule(t *testing.T) {
	bin := standin.Build(t)
	other := osexec.Command(bin)
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	sysfs := fstest.MapFS{
		"sched_ext/state":       {Data: []byte("enabled\n")},
		"sched_ext/root/ops":    {Data: []byte("simple\n")},
		"sched_ext/root/events": {Data: []byte("SCX_EV_SELECT_CPU_FALLBACK 2\n")},
	}
	src := `
h = scheduler.start(BIN, ["--exit-after=60s"])
assert.eq(h.name, "stand-in")
assert.true(h.alive())
assert.eq(h.state(), {"state": "enabled", "ops": "simple"})
assert.eq(h.events(), {"SCX_EV_SELECT_CPU_FALLBACK": 2})
for _ in range(500):
    if h.output():
        break
    sleep("10ms")
assert.true(h.output()[0].startswith("stand-in: ready pid "))
a = scheduler.attach(OTHER)
assert.true(a.alive())
assert.eq(a.output(), [])
assert.eq(scheduler.current(), None)
print(h.pid)
`
	src = strings.NewReplacer("BIN", strconv.Quote(bin), "OTHER", strconv.Itoa(other.Process.Pid)).Replace(src)
	path := filepath.Join(t.TempDir(), "s.star")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sess := starlib.NewSession(starlib.Options{SchedFS: sysfs})
	out, err := runSession(t, sess, path)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	sess.Close()
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("the started stand-in (pid %d) outlived the run", pid)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(other.Process.Pid) + "/stat"); err != nil || strings.Contains(string(b), ") Z") {
		t.Errorf("the attached process did not survive the run: %v %s", err, b)
	}
}

// TestSchedulerStateNone: without sched_ext, state() says "none".
func TestSchedulerStateNone(t *testing.T) {
	bin := standin.Build(t)
	path := filepath.Join(t.TempDir(), "s.star")
	src := "h = scheduler.start(" + strconv.Quote(bin) + ")\nassert.eq(h.state(), {'state': 'none', 'ops': ''})\nassert.eq(h.events(), None)\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runSession(t, starlib.NewSession(starlib.Options{SchedFS: fstest.MapFS{}}), path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
