package workload

import "fmt"

// tbMaxKeys bounds the key range: the model keeps 5 bytes per key.
const tbMaxKeys = 1 << 26

// taobenchTypes is ktstr's model of DCPerf's TaoBench (spec
// schbench-taobench.md part B): an in-process, GET-only object cache with
// a fast hit path and a slow miss path served by dispatcher threads. It is
// a model, not the benchmark: the real server's scheduler load comes
// mostly from polling nanosleeps, thousands of sockets and three slow
// threads per fast one, none of which the model has (spec B.7).
var taobenchTypes = []Type{
	{
		Name: "Taobench", Ctor: "taobench",
		Doc:         "A model of DCPerf TaoBench in one worker: client threads GET uniform keys from a sharded FIFO cache; misses go to dispatcher threads that sleep, fill and insert the value (use workers = 1).",
		NotAsThread: teamNotAsThread,
		Params: []Param{
			teamThreadsParam("client_threads", 0, 0, "closed-loop client threads; 0 = the worker's allowed CPU count"),
			teamThreadsParam("slow_threads", 0, 0, "miss dispatchers; 0 = max(1, clients / 3) (upstream has 3 slow threads per fast one)"),
			{Name: "cache_capacity_mib", Kind: KindInt, Default: int64(64), Min: 0, Max: 16384, Doc: "resident value budget in MiB; 0 counts as 1"},
			{Name: "dataset_mib", Kind: KindInt, Default: int64(0), Min: 0, Max: 16384, Doc: "the cache size the key range is made for (upstream's client --server-memsize); 0 = cache_capacity_mib. Larger than the cache lowers the hit ratio"},
			{Name: "target_hit_pct", Kind: KindInt, Default: int64(90), Min: 1, Max: 99, Doc: "hit ratio the key range is sized for: keys = ceil(objects / target)"},
			{Name: "slow_path_sleep_us", Kind: KindInt, Default: int64(100), Min: 0, Max: 100_000, Doc: "simulated backing-store fetch per miss in µs; 0 = a pure thread hop"},
		},
		Example: map[string]any{"cache_capacity_mib": 1, "slow_path_sleep_us": 10},
		Validate: func(w Work) error {
			if _, keys := tbSizing(w); keys > tbMaxKeys {
				return fmt.Errorf("dataset_mib = %d with target_hit_pct = %d makes %d keys, more than %d (a larger target or a smaller dataset fits)", w.Int("dataset_mib"), w.Int("target_hit_pct"), keys, tbMaxKeys)
			}
			return nil
		},
		StandIn: func(w Work, r *Report) {
			r.Taobench = &TaobenchReport{ClientThreads: 1, SlowThreads: 1, Objects: 1, KeyRange: 1, CacheBytes: 1, GetCmds: 1,
				FastOps: 1, ElapsedS: 1, TotalQPS: 1, FastQPS: 1, HitRatio: 1, HitRate: 1}
		},
		New: newTaobench,
	},
}

// TaobenchReport is what one Taobench worker measured (Report.Taobench).
// Commands and misses are counted when a GET is looked up, fast and slow
// ops when it is answered, so across a stop the two ratios differ.
type TaobenchReport struct {
	ClientThreads int     `json:"client_threads"`
	SlowThreads   int     `json:"slow_threads"`
	Objects       uint64  `json:"objects"`     // cache capacity in values
	KeyRange      uint64  `json:"key_range"`   // keys drawn uniformly from [0, key_range)
	CacheBytes    uint64  `json:"cache_bytes"` // bytes of the value slots
	GetCmds       uint64  `json:"get_cmds"`
	GetMisses     uint64  `json:"get_misses"`
	FastOps       uint64  `json:"fast_ops"` // hits answered
	SlowOps       uint64  `json:"slow_ops"` // misses answered after the slow path
	ElapsedS      float64 `json:"elapsed_s"`
	TotalQPS      float64 `json:"total_qps"` // (fast + slow) / elapsed
	FastQPS       float64 `json:"fast_qps"`
	SlowQPS       float64 `json:"slow_qps"`
	HitRatio      float64 `json:"hit_ratio"` // fast / (fast + slow), DCPerf's result
	HitRate       float64 `json:"hit_rate"`  // 1 − misses / commands, the server's stats line
}

// Line renders the report as one line of DCPerf-style figures.
func (r *TaobenchReport) Line() string {
	return fmt.Sprintf("total_qps = %.0f, fast_qps = %.0f, slow_qps = %.0f, hit_ratio = %.4f, hit_rate = %.4f (%d clients, %d dispatchers, %d objects, %d keys, %.1f s)",
		r.TotalQPS, r.FastQPS, r.SlowQPS, r.HitRatio, r.HitRate, r.ClientThreads, r.SlowThreads, r.Objects, r.KeyRange, r.ElapsedS)
}
