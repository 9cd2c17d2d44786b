package workload

import (
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestGroupedStepAllocs runs one whole group of each type in this process,
// every member a locked goroutine built by newWorker over an anonymous
// shared mapping with real pipes and group files, and counts the heap
// allocations made on the members' goroutines while they loop Step.
// AllocsPerRun cannot be used: it forces GOMAXPROCS=1 and measures one
// call, while a member's Step only completes when its partners run theirs.
// Nor can the process's malloc count: it also holds the Go runtime's own
// (a new M with its g0 and signal stack when the scheduler wakes one, on
// every return from a stop-the-world), which a loaded machine makes more
// of while it allows fewer steps. Threads that took a real-time class
// exit with their goroutine (they are never unlocked).
func TestGroupedStepAllocs(t *testing.T) {
	works := []Work{
		// Modes whose waits differ from the Example's.
		MustWork("WakeChain", map[string]any{"depth": 3, "work_per_hop": "0s", "wake": "Futex"}),
		MustWork("PriorityInversion", map[string]any{"medium_count": 0, "hold_iters": 64, "work_iters": 64, "pi_mode": "Pi"}),
	}
	for _, typ := range Types() {
		if typ.GroupSize != nil {
			works = append(works, typ.ExampleWork())
		}
	}
	for _, work := range works {
		t.Run(work.String(), func(t *testing.T) {
			steps, allocs, process := measureGroupAllocs(t, work)
			t.Logf("%d allocations by the members over %d steps (%d by the whole process)", allocs, steps, process)
			if allocs != 0 {
				t.Errorf("%d heap allocations by the group's members over %d steps, want 0", allocs, steps)
			}
		})
	}
}

// minWindowSteps is the fewest steps a measuring window holds.
const minWindowSteps = 100

// measureGroupAllocs runs one group of work in-process and returns, for a
// window of at least 200 ms and minWindowSteps steps, the steps taken,
// the heap objects allocated on the members' goroutines (runMember in the
// allocation's stack) and those allocated by the whole process. Every
// allocation is profiled (MemProfileRate 1) while it runs: what the
// runtime allocates for itself on a system stack (a new M, say) carries
// no member frame.
func measureGroupAllocs(t *testing.T, work Work) (steps, allocs, process uint64) {
	t.Helper()
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	typ := work.Type()
	g := max(work.GroupSize(), 1)
	// In ktstar each member is a process with a P of its own. Here they
	// share one process, and a member blocked in a raw wait keeps its P,
	// so give every member one or its partners could not run.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(g + 1))
	layout := newLayout(g, g, typ)
	shm, err := unix.Mmap(-1, 0, layout.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	stop := (*uint32)(unsafe.Pointer(&shm[offStop]))
	var ring, files []int
	if typ.Pipes != nil {
		for range typ.Pipes(work) {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			ring = append(ring, p[0], p[1])
		}
	}
	if typ.GroupFiles != nil {
		fs, err := typ.GroupFiles(work)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			files = append(files, int(f.Fd()))
			t.Cleanup(func() { f.Close() })
		}
	}

	counts := make([]atomic.Uint64, g)
	ready := make(chan error, g)
	done := make(chan struct{}, g)
	for p := range g {
		spec := workerSpec{Index: p, Pos: p, Work: work, ShmSize: layout.Size, Slot: layout.Slot(p), Region: layout.Region(0)}
		w := newWorker(spec, shm, cpuReader())
		if n := len(ring) / 2; n > 0 {
			r, wr := ringEnds(p, n)
			w.rfd, w.wfd = ring[r], ring[wr]
		}
		w.gfds = files
		go runMember(typ, w, &counts[p], ready, done)
	}
	t.Cleanup(func() {
		atomic.StoreUint32(stop, 1)
		for range g {
			<-done
		}
		for _, fd := range ring {
			unix.Close(fd)
		}
		unix.Munmap(shm)
	})
	for range g {
		if err := <-ready; err != nil {
			t.Fatal(err)
		}
	}
	total := func() (n uint64) {
		for i := range counts {
			n += counts[i].Load()
		}
		return n
	}
	// Warm up: every member through a few steps, so first-use growth (the
	// runtime's own, not the bodies') is behind us.
	for deadline := time.Now().Add(parkLimit); ; time.Sleep(time.Millisecond) {
		warm := true
		for i := range counts {
			warm = warm && counts[i].Load() >= 3
		}
		if warm {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group did not warm up: steps per member %v", counts)
		}
	}
	a0 := memberAllocs(t)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	// The window: at least 200 ms and at least minWindowSteps steps, so a
	// loaded machine lengthens it instead of starving the count.
	s0, start := total(), time.Now()
	for time.Since(start) < 200*time.Millisecond || total()-s0 < minWindowSteps {
		if time.Since(start) > parkLimit {
			t.Fatalf("the group made %d steps in %v, want %d", total()-s0, parkLimit, minWindowSteps)
		}
		time.Sleep(time.Millisecond)
	}
	s1 := total()
	runtime.ReadMemStats(&m1)
	a1 := memberAllocs(t)
	atomic.StoreUint32(stop, 1)
	return s1 - s0, a1 - a0, m1.Mallocs - m0.Mallocs
}

// runMember is the goroutine of one member of measureGroupAllocs: it
// builds the body, says so on ready, and loops Step until the stop word
// is set, counting the steps. memberAllocs finds its allocations by its
// name in their stacks.
func runMember(typ *Type, w *Worker, count *atomic.Uint64, ready chan<- error, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	runtime.LockOSThread() // never unlocked: the thread dies with its class
	body, err := typ.New(w)
	ready <- err
	if err != nil {
		return
	}
	for !w.Stopped() {
		body.Step()
		count.Add(1)
	}
	if c, ok := body.(interface{ Close() }); ok {
		c.Close()
	}
}

// memberAllocs returns how many heap objects have been allocated with
// runMember in their stack since profiling began. runtime.GC first: the
// profile includes an allocation once a collection has completed after it.
func memberAllocs(t *testing.T) uint64 {
	t.Helper()
	member := runtime.FuncForPC(reflect.ValueOf(runMember).Pointer()).Name()
	runtime.GC()
	n, _ := runtime.MemProfile(nil, true)
	recs := make([]runtime.MemProfileRecord, n+64) // room for buckets added meanwhile
	n, ok := runtime.MemProfile(recs, true)
	if !ok {
		t.Fatalf("the heap profile grew past %d records while it was read", len(recs))
	}
	var objects uint64
	for _, r := range recs[:n] {
		frames := runtime.CallersFrames(r.Stack())
		for f, more := frames.Next(); ; f, more = frames.Next() {
			if f.Function == member {
				objects += uint64(r.AllocObjects)
				break
			}
			if !more {
				break
			}
		}
	}
	return objects
}
