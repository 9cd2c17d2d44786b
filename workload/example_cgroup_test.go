package workload_test

import (
	"fmt"
	"log"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/workload"
)

// Example_cgroup shows how a scenario places a group of workers: sweep
// groups left by dead runs, create the run's group and a child, give the
// child a cpuset from a CpusetSpec (when the v2 hierarchy has the cpuset
// controller), resolve a topology-aware affinity against that cpuset, and
// spawn the workers directly inside the child.
func Example_cgroup() {
	tp, err := topo.Host()
	if err != nil {
		log.Fatal(err)
	}
	root, err := cgroupfs.Default()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := root.Sweep(); err != nil {
		log.Print(err)
	}
	run, err := root.NewRun()
	if err != nil {
		log.Fatal(err)
	}
	defer run.Destroy()
	cg, err := run.NewChild("cg_0")
	if err != nil {
		log.Fatal(err)
	}

	var cpuset []int // nil: no cpuset
	if err := run.EnableControllers("cpuset"); err == nil {
		cpus, err := topo.CpusDisjoint(0, 2).Resolve(tp)
		if err != nil {
			log.Fatal(err)
		}
		if err := cg.SetCpus(cpus); err != nil {
			log.Fatal(err)
		}
		cpuset = cpus
	} else {
		fmt.Println("no cpusets:", err)
	}
	aff, err := workload.ResolveAffinity(workload.LLCAligned(), tp, cpuset)
	if err != nil {
		log.Fatal(err)
	}
	h, err := workload.Spawn(workload.Config{Workers: 2, Affinity: aff, Cgroup: cg})
	if err != nil {
		log.Fatal(err)
	}
	h.Start()
	reports, err := h.StopAndCollect()
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range reports {
		fmt.Println(r.Tid, r.Cgroup, r.CPUsUsed)
	}
}
