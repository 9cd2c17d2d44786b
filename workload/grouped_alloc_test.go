package workload

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestGroupedStepAllocs runs one whole group of each type in this process,
// every member a locked goroutine built by newWorker over an anonymous
// shared mapping with real pipes and group files, and counts heap
// allocations while all members loop Step (like testing.AllocsPerRun,
// whose integer average floors the same noise away). AllocsPerRun cannot be
// used: it forces GOMAXPROCS=1 and measures one call, while a member's
// Step only completes when its partners run theirs. Threads that took a
// real-time class exit with their goroutine (they are never unlocked).
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
			steps, allocs := measureGroupAllocs(t, work)
			t.Logf("%d allocations over %d steps", allocs, steps)
			// The window also sees the runtime's own few allocations (a new
			// M when a locked thread blocks, say), more of them on a loaded
			// machine that also allows fewer steps. A body allocating in
			// Step would show at least one per step.
			if allocs*10 > steps {
				t.Errorf("%d heap allocations over %d steps of the whole group, want under one per 10 steps", allocs, steps)
			}
		})
	}
}

// minWindowSteps is the fewest steps a measuring window holds.
const minWindowSteps = 100

// measureGroupAllocs runs one group of work in-process and returns the
// steps taken and the mallocs counted during a window of at least 200 ms
// and minWindowSteps steps.
func measureGroupAllocs(t *testing.T, work Work) (steps, allocs uint64) {
	t.Helper()
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
		go func() {
			defer func() { done <- struct{}{} }()
			runtime.LockOSThread() // never unlocked: the thread dies with its class
			body, err := typ.New(w)
			ready <- err
			if err != nil {
				return
			}
			for !w.Stopped() {
				body.Step()
				counts[p].Add(1)
			}
			if c, ok := body.(interface{ Close() }); ok {
				c.Close()
			}
		}()
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
	atomic.StoreUint32(stop, 1)
	return s1 - s0, m1.Mallocs - m0.Mallocs
}
