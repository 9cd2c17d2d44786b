package workload

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Value sizes of the model and their weights (ktstr's table; DCPerf's
// empirical table has 2674 ranges with a mean of about 360 B before
// compression). The weighted mean is 330880/996 ≈ 332 B.
var (
	tbSizes   = [...]int{64, 128, 256, 512, 1024, 4096, 16384, 65536}
	tbWeights = [...]uint64{450, 300, 130, 70, 30, 12, 3, 1}
)

const (
	tbShards      = 256
	tbWeightTotal = 996
	tbMeanSize    = 330880.0 / tbWeightTotal
)

// tbSlot is one cached value; its buffer has its size class's length.
type tbSlot struct {
	key int64 // -1 when empty
	buf []byte
}

// tbShard is one lock's share of the cache: per size class a FIFO ring of
// slots. A miss's value evicts the oldest value of its class in the
// key's shard and reuses that buffer, so after the warm fill nothing is
// allocated and memory stays fixed. Class rings hold their weight's share
// of the shard, so with uniform keys each value stays for the same number
// of misses whatever its class: the hit ratio is capacity / key range, as
// in ktstr's one FIFO per shard.
type tbShard struct {
	mu    sbMutex
	slots [len(tbSizes)][]tbSlot
	head  [len(tbSizes)]int
	_     [64]byte
}

type tbClient struct {
	rng                      uint64
	cmds, misses, fast, slow atomic.Uint64
	sink                     uint64
	key                      int64
	class                    int
	served                   uint32 // 1 once a dispatcher answered the miss
	_                        [64]byte
}

type taobench struct {
	w             *Worker
	team          *threadTeam
	clients       []*tbClient
	slow          int
	shards        [tbShards]tbShard
	where         []int32 // key → slot index within its shard and class, -1 when absent; guarded by the key's shard
	whereClass    []uint8
	objects, keys uint64
	bytes         uint64
	sleep         time.Duration
	// The miss queue: a ring with a slot per client (each has at most one
	// miss queued), under qmu; dispatchers wait on qseq, bumped per push.
	qmu         sbMutex
	ring        []*tbClient
	qhead, qlen int
	qseq        uint32
	qclosed     atomic.Bool
	liveClients atomic.Int32 // clients still in their loop
	started     bool
	startNs     int64
	stopNs      int64
	units       uint64
}

func newTaobench(w *Worker) (Body, error) {
	wk := w.Work()
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	clients := int(wk.Int("client_threads"))
	if clients == 0 {
		clients = allowed.Count()
	}
	slow := int(wk.Int("slow_threads"))
	if slow == 0 {
		slow = max(1, clients/3)
	}
	objects, keys := tbSizing(wk)
	t := &taobench{
		w: w, slow: slow, objects: objects, keys: keys,
		sleep: time.Duration(wk.Int("slow_path_sleep_us")) * time.Microsecond,
		ring:  make([]*tbClient, clients),
	}
	t.where = make([]int32, t.keys)
	t.whereClass = make([]uint8, t.keys)
	for i := range t.where {
		t.where[i] = -1
	}
	perShard := t.objects / tbShards
	counts := tbApportion(perShard)
	for sh := range t.shards {
		next := uint64(sh) // keys of this shard: sh, sh + 256, …
		for c, n := range counts {
			slots := make([]tbSlot, n)
			for i := range slots {
				// The warm fill: every slot holds a distinct key at once.
				slots[i] = tbSlot{key: int64(next), buf: make([]byte, tbSizes[c])}
				fill(slots[i].buf, byte(next))
				t.where[next], t.whereClass[next] = int32(i), uint8(c)
				next += tbShards
			}
			t.shards[sh].slots[c] = slots
			t.bytes += n * uint64(tbSizes[c])
		}
	}
	var err error
	if t.team, err = newThreadTeam(clients + slow); err != nil {
		return nil, err
	}
	for i := range clients {
		c := &tbClient{rng: uint64(i+1) * 0x9E3779B97F4A7C15}
		t.clients = append(t.clients, c)
		t.liveClients.Add(1)
		t.team.spawn("tao-client", &allowed, nil, func() {
			t.client(c)
			t.clientLeft()
		})
	}
	for range slow {
		t.team.spawn("tao-slow", &allowed, nil, t.dispatcher)
	}
	if err := t.team.wait(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// tbSizing returns the cache's capacity in values, bytes / mean size
// rounded down to whole shards (at least 256), and the key range, ceil(objects of the dataset / target hit).
func tbSizing(w Work) (objects, keys uint64) {
	capMiB := max(w.Int("cache_capacity_mib"), 1)
	dataMiB := w.Int("dataset_mib")
	if dataMiB == 0 {
		dataMiB = capMiB
	}
	// Whole shards: every shard holds the same number of values.
	objectsFor := func(mib int64) uint64 { return tbShards * max(1, uint64(float64(mib<<20)/tbMeanSize)/tbShards) }
	target := float64(w.Int("target_hit_pct")) / 100
	return objectsFor(capMiB), uint64(math.Ceil(float64(objectsFor(dataMiB)) / target))
}

// tbApportion splits a shard's slots over the size classes by weight
// (largest remainder), so the shard holds exactly n values.
func tbApportion(n uint64) [len(tbSizes)]uint64 {
	var counts [len(tbSizes)]uint64
	var rem [len(tbSizes)]uint64
	left := n
	for c, w := range tbWeights {
		counts[c] = n * w / tbWeightTotal
		rem[c] = n * w % tbWeightTotal
		left -= counts[c]
	}
	for ; left > 0; left-- {
		best := 0
		for c := range rem {
			if rem[c] > rem[best] {
				best = c
			}
		}
		counts[best]++
		rem[best] = 0
	}
	return counts
}

// tbClass draws a size class by weight.
func tbClass(rng *uint64) int {
	r := xorshift64(rng) % tbWeightTotal
	for c, w := range tbWeights {
		if r < w {
			return c
		}
		r -= w
	}
	return len(tbWeights) - 1
}

// get looks key up and reads every byte of a hit's value.
func (t *taobench) get(c *tbClient, key int64) bool {
	sh := &t.shards[key%tbShards]
	sh.mu.lock()
	i := t.where[key]
	if i >= 0 {
		buf := sh.slots[t.whereClass[key]][i].buf
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&buf[0])), len(buf)/8)
		for _, v := range words {
			c.sink += v
		}
	}
	sh.mu.unlock()
	return i >= 0
}

// insert stores a freshly filled value of class c for key, evicting the
// oldest value of that class in the key's shard.
func (t *taobench) insert(key int64, c int) {
	sh := &t.shards[key%tbShards]
	sh.mu.lock()
	if old := t.where[key]; old >= 0 {
		// Another dispatcher filled it meanwhile: refill in place.
		fill(sh.slots[t.whereClass[key]][old].buf, byte(key))
		sh.mu.unlock()
		return
	}
	for len(sh.slots[c]) == 0 {
		c-- // a small cache has no slot of the rare large sizes
	}
	i := sh.head[c]
	sh.head[c] = (i + 1) % len(sh.slots[c])
	slot := &sh.slots[c][i]
	if slot.key >= 0 {
		t.where[slot.key] = -1
	}
	slot.key = key
	fill(slot.buf, byte(key))
	t.where[key] = int32(i)
	t.whereClass[key] = uint8(c)
	sh.mu.unlock()
}

// client is one closed-loop connection: GET a uniform key; a hit is
// answered at once, a miss waits for a dispatcher. It leaves only at the
// top of its loop, so no miss of it is ever left queued.
func (t *taobench) client(c *tbClient) {
	for !t.team.stopping.Load() {
		key := int64(xorshift64(&c.rng) % t.keys)
		c.cmds.Add(1)
		if t.get(c, key) {
			c.fast.Add(1)
			continue
		}
		c.misses.Add(1)
		c.key, c.class = key, tbClass(&c.rng)
		atomic.StoreUint32(&c.served, 0)
		t.push(c)
		for atomic.LoadUint32(&c.served) == 0 {
			sbFutexWait(&c.served, 0)
		}
		c.slow.Add(1)
	}
}

// clientLeft closes the queue once the last client has left its loop:
// the dispatchers then drain it and exit (the deadlock-free order).
func (t *taobench) clientLeft() {
	if t.liveClients.Add(-1) == 0 {
		t.qmu.lock()
		t.qclosed.Store(true)
		atomic.AddUint32(&t.qseq, 1)
		t.qmu.unlock()
		sbFutexWake(&t.qseq, math.MaxInt32)
	}
}

func (t *taobench) push(c *tbClient) {
	t.qmu.lock()
	t.ring[(t.qhead+t.qlen)%len(t.ring)] = c
	t.qlen++
	atomic.AddUint32(&t.qseq, 1)
	t.qmu.unlock()
	sbFutexWake(&t.qseq, 1)
}

// pop takes the oldest miss, waiting for one; nil once the queue is
// closed and empty.
func (t *taobench) pop() *tbClient {
	for {
		t.qmu.lock()
		if t.qlen > 0 {
			c := t.ring[t.qhead]
			t.qhead = (t.qhead + 1) % len(t.ring)
			t.qlen--
			t.qmu.unlock()
			return c
		}
		seq := atomic.LoadUint32(&t.qseq)
		closed := t.qclosed.Load()
		t.qmu.unlock()
		if closed {
			return nil
		}
		sbFutexWait(&t.qseq, seq)
	}
}

// dispatcher serves misses until the queue is closed and drained.
func (t *taobench) dispatcher() {
	for c := t.pop(); c != nil; c = t.pop() {
		if t.sleep > 0 {
			sbSleep(t.sleep)
		}
		t.insert(c.key, c.class)
		atomic.StoreUint32(&c.served, 1)
		sbFutexWake(&c.served, 1)
	}
}

// Step publishes progress every stopPoll; the threads do the work.
func (t *taobench) Step() bool {
	if !t.started {
		t.started = true
		t.startNs = nanotime()
		t.team.open()
	}
	sleepFull(stopPoll)
	var n uint64
	for _, c := range t.clients {
		n += c.fast.Load() + c.slow.Load()
	}
	t.w.AddUnits(n - t.units)
	t.units = n
	return true
}

// shutdown stops the clients; the last one to leave closes the queue
// (clientLeft), after which the dispatchers drain it and exit.
func (t *taobench) shutdown() bool {
	if t.stopNs == 0 {
		t.stopNs = nanotime()
	}
	t.team.stop()
	return t.team.reap()
}

// Finish stops and reaps the threads and fills Report.Taobench.
func (t *taobench) Finish(r *Report) {
	t.stopNs = nanotime()
	if !t.shutdown() {
		r.Counters["taobench_threads_not_reaped"] = 1
	}
	rep := &TaobenchReport{ClientThreads: len(t.clients), SlowThreads: t.slow, Objects: t.objects, KeyRange: t.keys, CacheBytes: t.bytes}
	for _, c := range t.clients {
		rep.GetCmds += c.cmds.Load()
		rep.GetMisses += c.misses.Load()
		rep.FastOps += c.fast.Load()
		rep.SlowOps += c.slow.Load()
	}
	if t.started {
		rep.ElapsedS = float64(t.stopNs-t.startNs) / 1e9
	}
	if rep.ElapsedS > 0 {
		rep.FastQPS = float64(rep.FastOps) / rep.ElapsedS
		rep.SlowQPS = float64(rep.SlowOps) / rep.ElapsedS
		rep.TotalQPS = rep.FastQPS + rep.SlowQPS
	}
	if ops := rep.FastOps + rep.SlowOps; ops > 0 {
		rep.HitRatio = float64(rep.FastOps) / float64(ops)
	}
	if rep.GetCmds > 0 {
		rep.HitRate = 1 - float64(rep.GetMisses)/float64(rep.GetCmds)
	}
	r.WorkUnits = rep.FastOps + rep.SlowOps
	r.Taobench = rep
}

// Close stops and reaps the threads if Finish did not.
func (t *taobench) Close() {
	t.shutdown()
	t.team.close()
}
