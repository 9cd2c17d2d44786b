package workload

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeWorkerEnv makes a re-exec'd worker of this test binary speak the
// given bytes on its report pipe instead of running (see TestMain): the
// part before '|' at once, the rest after the start gate opens. It is how
// the tests make a real worker process break the protocol.
const fakeWorkerEnv = "KTSTAR_TEST_FAKE_WORKER"

// fakeWorker is a worker process that says what fakeWorkerEnv holds.
func fakeWorker(say string) {
	report := os.NewFile(fdReport, "report")
	before, after, gated := strings.Cut(say, "|")
	report.WriteString(before)
	if gated {
		var st unix.Stat_t
		unix.Fstat(fdShm, &st)
		shm, err := unix.Mmap(fdShm, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			os.Exit(3)
		}
		waitStartGate(shm, startGateLimit)
		report.WriteString(after)
	}
	os.Exit(0)
}

func TestReadMsg(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []msg
		got     msg
		err     error
		errText string
	}{
		{in: "p", want: []msg{msgParked, msgError}, got: msgParked},
		{in: "e", want: []msg{msgParked, msgError}, got: msgError},
		{in: "r", want: []msg{msgReleased}, got: msgReleased},
		{in: "", want: []msg{msgParked}, err: io.EOF},
		{in: "r", want: []msg{msgParked, msgError}, got: msgReleased, err: errUnexpected,
			errText: "protocol: unexpected message 'r' (released) from the worker (want 'p' (parked) or 'e' (error))"},
		{in: "x", want: []msg{msgReleased}, got: 'x', err: errUnexpected,
			errText: "protocol: unexpected message 'x' (0x78, not a protocol message) from the worker (want 'r' (released))"},
	} {
		got, err := readMsg(bytes.NewReader([]byte(tc.in)), tc.want...)
		if got != tc.got || !errors.Is(err, tc.err) || (tc.errText != "" && err.Error() != tc.errText) {
			t.Errorf("readMsg(%q, %v) = %v, %v; want %v, %v %q", tc.in, tc.want, got, err, tc.got, tc.err, tc.errText)
		}
	}
}

// TestUnexpectedMessageBeforeGate has a real worker process send a byte
// the protocol does not know instead of parking: Spawn must fail naming
// the message, not report an exit before the start gate.
func TestUnexpectedMessageBeforeGate(t *testing.T) {
	leakCheck(t)
	t.Setenv(fakeWorkerEnv, "x")
	h, err := Spawn(Config{Workers: 1})
	if err == nil {
		h.Close()
		t.Fatal("spawn succeeded with a worker that sent 'x'")
	}
	want := "spawn worker 0: protocol: unexpected message 'x' (0x78, not a protocol message) from the worker (want 'p' (parked) or 'e' (error))"
	if err.Error() != want {
		t.Errorf("error:\n got %q\nwant %q", err, want)
	}
}

// TestUnexpectedMessageAfterGate has a worker park, then send a second
// 'p' where msgReleased belongs: its report is a sentinel naming the
// message, and the worker is killed.
func TestUnexpectedMessageAfterGate(t *testing.T) {
	leakCheck(t)
	t.Setenv(fakeWorkerEnv, "p|p")
	h := spawnWork(t, Config{Workers: 1})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	rs, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Completed || r.ExitInfo == nil || !strings.Contains(r.ExitInfo.Error, "unexpected message 'p' (parked) from the worker (want 'r' (released) or 'e' (error))") {
		t.Errorf("report: completed %v, exit info %+v; want a sentinel naming the unexpected 'p'", r.Completed, r.ExitInfo)
	}
}

func TestLayout(t *testing.T) {
	pair, _ := Lookup("FutexPingPong")
	spin, _ := Lookup("SpinWait")
	for _, tc := range []struct {
		name             string
		workers, group   int
		t                *Type
		size, slot3, rg1 int
	}{
		// 4 slots fit the first page; two groups' regions follow, a page each.
		{"pairs", 4, 2, pair, 3 * pageSize, slotBase + 3*slotBytes, 2 * pageSize},
		// 100 slots need two pages; no regions.
		{"ungrouped", 100, 0, spin, 2 * pageSize, slotBase + 3*slotBytes, 0},
	} {
		l := newLayout(tc.workers, tc.group, tc.t)
		if l.Size != tc.size || l.Slot(3) != tc.slot3 || l.Region(1) != tc.rg1 {
			t.Errorf("%s: size %d, slot(3) %d, region(1) %d; want %d, %d, %d", tc.name, l.Size, l.Slot(3), l.Region(1), tc.size, tc.slot3, tc.rg1)
		}
		if last := l.Slot(tc.workers-1) + slotBytes; last > l.Size || (l.Region(0) != 0 && last > l.Region(0)) {
			t.Errorf("%s: the last slot ends at %d, past the regions or the mapping", tc.name, last)
		}
	}
}

// TestWorkGroupIsTheTypesGroup spawns two pairs and one ungrouped set:
// each report carries its worker's group as the type forms them.
func TestWorkGroupIsTheTypesGroup(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		work Work
		want []int
	}{
		{MustWork("FutexPingPong", nil), []int{0, 0, 1, 1}},
		{MustWork("SpinWait", nil), []int{0, 1, 2}},
	} {
		h := spawnWork(t, Config{Workers: len(tc.want), Work: tc.work})
		rs := stopWork(t, h)
		for i, r := range rs {
			if r.WorkGroup != tc.want[i] || r.GroupIdx != 0 {
				t.Errorf("%s worker %d: work_group %d, group_idx %d; want %d, 0", tc.work.Name(), i, r.WorkGroup, r.GroupIdx, tc.want[i])
			}
		}
	}
}
