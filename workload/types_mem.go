package workload

import (
	"fmt"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/kernfs"
	"github.com/ktstar/ktstar/topo"
)

// memTypes are the page-fault and NUMA working-set types.
var memTypes = []Type{
	{
		Name: "PageFaultChurn", Ctor: "page_fault_churn",
		Doc:     "Touch distinct random pages of a private region (each a minor fault), zap the region with MADV_DONTNEED, spin; repeat.",
		Example: map[string]any{"region_kb": 64, "touches_per_cycle": 8},
		Params: []Param{
			regionParam(),
			{Name: "touches_per_cycle", Kind: KindInt, Default: int64(256), Min: 0, Max: 1 << 20, Doc: "distinct pages touched per cycle; at most the region's pages"},
			spinParam("spin_iters", 64, "spin steps after each cycle"),
		},
		Validate: func(w Work) error {
			if t, pages := w.Int("touches_per_cycle"), w.Int("region_kb")/4; t > pages {
				return fmt.Errorf("touches_per_cycle = %d is out of range (allowed: 0..%d, the pages in region_kb = %d)", t, pages, w.Int("region_kb"))
			}
			return nil
		},
		New: func(w *Worker) (Body, error) {
			region, err := mapRegion(w.work)
			if err != nil {
				return nil, err
			}
			// Base pages only: a huge page would turn many touches into one fault.
			unix.Madvise(region, unix.MADV_NOHUGEPAGE)
			b := &pageFaultChurn{
				w: w, region: region, pages: uint64(len(region) / pageSize),
				touches: w.work.Int("touches_per_cycle"), spin: uint64(w.work.Int("spin_iters")),
				rng: uint64(unix.Gettid()) | 1,
			}
			b.faults0 = threadMinorFaults()
			return b, nil
		},
	},
	{
		Name: "NumaWorkingSetSweep", Ctor: "numa_working_set_sweep",
		Doc:     "Bind a private working set to the next target node (mbind, MPOL_MF_MOVE), touch every page, sleep a period; repeat.",
		Example: map[string]any{"region_kb": 64, "sweep_period_ms": 0, "target_nodes": []int64{0}},
		Params: []Param{
			regionParam(),
			sleepMsParam("sweep_period_ms", "sleep after each sweep, ms (0: none); the sleep is a wake sample"),
			{Name: "target_nodes", Kind: KindInts, Default: []int64{}, Min: 0, Max: 1023, Doc: "NUMA nodes to rotate through (empty: never bind); each must be online"},
		},
		Preflight: func(w Work) error {
			nodes := w.Ints("target_nodes")
			if len(nodes) == 0 {
				return nil
			}
			online, err := topo.OnlineNodes()
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if !slices.Contains(online, int(n)) {
					return fmt.Errorf("target_nodes = %s: node %d is not online (online nodes: %s)", kinds[KindInts].format(nodes), n, FormatCPUList(online))
				}
			}
			return nil
		},
		Sample: SampleSleep,
		New: func(w *Worker) (Body, error) {
			region, err := mapRegion(w.work)
			if err != nil {
				return nil, err
			}
			b := &numaSweep{w: w, region: region, period: time.Duration(w.work.Int("sweep_period_ms")) * time.Millisecond}
			for _, n := range w.work.Ints("target_nodes") {
				var m nodeMask
				m.bits[n/64] |= 1 << (n % 64)
				m.maxnode = uint64(n) + 2
				b.masks = append(b.masks, m)
			}
			if len(b.masks) > 0 {
				b.phase = unix.Gettid() % len(b.masks)
			}
			return b, nil
		},
	},
}

func regionParam() Param {
	return Param{Name: "region_kb", Kind: KindInt, Default: int64(4096), Min: 4, Max: 1 << 24, Aliases: []string{"region_kib"}, Doc: "private region size in KiB"}
}

// mapRegion maps the private anonymous region of region_kb KiB.
func mapRegion(w Work) ([]byte, error) {
	size := int(w.Int("region_kb")) * 1024 &^ (pageSize - 1)
	region, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap %d KiB: %w", size/1024, err)
	}
	return region, nil
}

// threadMinorFaults returns the calling thread's minor page faults.
func threadMinorFaults() uint64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return uint64(ru.Minflt)
}

// touchChunk is how many pages PageFaultChurn faults in between checks of
// stop: about a millisecond of faults.
const touchChunk = 1024

type pageFaultChurn struct {
	w       *Worker
	region  []byte
	pages   uint64
	touches int64
	spin    uint64
	rng     uint64
	faults0 uint64
}

// Step touches touches_per_cycle distinct pages. ktstr draws each page
// independently, so repeats make a cycle fault fewer times than it
// touches; ktstar walks a random stride coprime with the page count from a
// random start, which visits distinct pages, so every touch is one fault.
func (b *pageFaultChurn) Step() bool {
	p, step := b.next()%b.pages, b.next()%b.pages
	for step == 0 || gcd(step, b.pages) != 1 {
		step = (step + 1) % b.pages
		if b.pages == 1 {
			break
		}
	}
	// A cycle can be a million faults (seconds): check stop between chunks.
	done := int64(0)
	for done < b.touches && (done == 0 || !b.w.Stopped()) {
		n := min(b.touches-done, touchChunk)
		for range n {
			b.region[p*pageSize] = 1
			if p += step; p >= b.pages {
				p -= b.pages
			}
		}
		done += n
	}
	b.w.AddUnits(uint64(done))
	unix.Madvise(b.region, unix.MADV_DONTNEED)
	b.w.SpinBurst(b.spin)
	return true
}

func (b *pageFaultChurn) next() uint64 { return xorshift64(&b.rng) }

// xorshift64 advances a non-zero xorshift64 state and returns it.
func xorshift64(state *uint64) uint64 {
	x := *state
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*state = x
	return x
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Finish reports the thread's minor faults over the run (minor_faults).
func (b *pageFaultChurn) Finish(r *Report) {
	r.Counters["minor_faults"] = threadMinorFaults() - b.faults0
}

// Close unmaps the region.
func (b *pageFaultChurn) Close() { unix.Munmap(b.region) }

// nodeMask is an mbind node mask for one node.
type nodeMask struct {
	bits    [16]uint64 // 1024 nodes
	maxnode uint64
}

type numaSweep struct {
	w      *Worker
	region []byte
	period time.Duration
	masks  []nodeMask
	phase  int // tid mod len(masks): workers start on different nodes
	step   int
}

func (b *numaSweep) Step() bool {
	w := b.w
	if len(b.masks) > 0 {
		m := &b.masks[(b.step+b.phase)%len(b.masks)]
		_, _, e := unix.Syscall6(unix.SYS_MBIND, uintptr(unsafe.Pointer(&b.region[0])), uintptr(len(b.region)),
			unix.MPOL_BIND, uintptr(unsafe.Pointer(&m.bits[0])), uintptr(m.maxnode), unix.MPOL_MF_MOVE)
		if e != 0 {
			w.Count("mbind_errors", 1)
		} else {
			w.Count("mbind_calls", 1)
		}
	}
	b.step++
	for off := 0; off < len(b.region); off += pageSize {
		b.region[off] = byte(b.step)
	}
	w.AddUnits(uint64(len(b.region) / pageSize))
	if b.period > 0 && !w.Stopped() {
		t0 := nanotime()
		nanosleep(b.period)
		w.WakeSample(nanotime() - t0)
	}
	w.ResetGap()
	return true
}

// Finish scopes numa_pages to the working set, as ktstr does.
func (b *numaSweep) Finish(r *Report) {
	r.NumaPages = regionNumaPages(uintptr(unsafe.Pointer(&b.region[0])))
}

// Close unmaps the region.
func (b *numaSweep) Close() { unix.Munmap(b.region) }

// regionNumaPages returns the resident pages per node of the mapping that
// starts at addr, from /proc/self/numa_maps.
func regionNumaPages(addr uintptr) map[int]uint64 {
	maps, err := kernfs.ReadNumaMaps(kernfs.Proc, "self")
	if err != nil {
		return map[int]uint64{}
	}
	return kernfs.SumPages(maps, func(m kernfs.NumaMapping) bool { return m.Addr == uint64(addr) })
}
