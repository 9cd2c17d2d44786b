package vm

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Accelerator choices for Options.Accel.
const (
	AccelAuto = "auto" // KVM if /dev/kvm works and the guest prints within ProbeTimeout, else TCG (a failure is remembered per host)
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// Defaults used when an Options field is zero.
const (
	DefaultCPUs   = 2
	DefaultMemory = 1 << 30
	DefaultQEMU   = "qemu-system-x86_64"
	// DefaultBootTimeout bounds the boot, from QEMU's start to the run's
	// start in the guest; generous, as TCG on a loaded host is slow.
	DefaultBootTimeout = 5 * time.Minute
	// DefaultStopGrace is how long an interrupted run (a forwarded
	// signal, its --timeout) may take to stop, collect its workers and
	// send its results before QEMU is killed.
	DefaultStopGrace = time.Minute
	// DefaultProbeTimeout is how long AccelAuto waits for a KVM guest's
	// first console byte before falling back to TCG.
	DefaultProbeTimeout = 5 * time.Second
)

// Options describe one throwaway guest and the script it runs. The zero
// value of every field but Script means "the default".
type Options struct {
	// Script is the host path of the .star file to run. Its directory tree
	// (every *.star file below it) is copied into the guest so load() works.
	Script string
	// Run are the flags passed on to `ktstar run` inside the guest.
	Run RunArgs
	// Command, when set, replaces `run SCRIPT ...`: the guest's /init is
	// started as a child with these arguments instead (a test binary's
	// -test.* flags, see package vmtest). Script and Run are then unused.
	Command []string

	// Kernel is a bzImage. Empty: Debian's cloud kernel from the cache,
	// fetched on first use (see DefaultKernel).
	Kernel string
	// Modules is a kernel's lib/modules/<version> tree to take the virtio
	// modules from. Empty with the default kernel: its own tree. Empty with
	// a user's Kernel: none are shipped (the kernel must have what it needs
	// built in).
	Modules string
	// Init is the static ktstar binary that becomes the guest's /init.
	// Empty: the running executable, which must then be statically linked
	// (CGO_ENABLED=0).
	Init string
	// QEMU is the emulator binary; empty means DefaultQEMU on PATH.
	QEMU string
	// Files are copied into the guest's initramfs (--file); a dynamically
	// linked ELF brings its interpreter and libraries ([ELFDeps]).
	Files []File

	// CPUs is the vCPU count (DefaultCPUs if 0, or the sum of Nodes).
	CPUs int
	// NUMA splits CPUs and Memory evenly over this many nodes (0 or 1: one
	// node, no NUMA table). Ignored when Nodes is set.
	NUMA int
	// Nodes gives each NUMA node's CPUs (and optionally memory) explicitly.
	Nodes []Node
	// SMT is the number of hardware threads per core (0 means 1).
	SMT int
	// LLCs is the number of last-level caches per NUMA node (QEMU dies,
	// each with its own L3). 0 keeps one LLC per socket, the socket size
	// being what the NUMA layout allows; set, every node with CPUs must
	// split into that many LLCs of the same size.
	LLCs int
	// Memory is the guest RAM in bytes (DefaultMemory if 0, or the sum of
	// Nodes' memory when every node gives one).
	Memory int64
	// Accel is AccelAuto (default), AccelKVM or AccelTCG.
	Accel string
	// ProbeTimeout overrides DefaultProbeTimeout for AccelAuto.
	ProbeTimeout time.Duration
	// Disk, when non-zero, adds a scratch virtio disk of this many bytes
	// (the guest's /dev/vda), backed by an unlinked sparse temp file.
	Disk int64
	// Append is extra kernel command line.
	Append string
	// Timeout limits the run from its start in the guest, so the boot does
	// not count; 0 means no limit. A script's run gets it as `ktstar run
	// --timeout` (per repetition) and interrupts itself as a local run
	// would, sending back its reports marked "interrupted": "timeout"; the
	// host kills QEMU only if the guest has not finished StopGrace after
	// that. A Command's guest is killed at Timeout.
	Timeout time.Duration
	// BootTimeout bounds the boot up to the run's start
	// (DefaultBootTimeout if 0); QEMU is then killed.
	BootTimeout time.Duration
	// StopGrace is how long an interrupted run may take to stop and send
	// its results (DefaultStopGrace if 0).
	StopGrace time.Duration
	// Signals, if set, delivers the host's terminating signals (SIGINT,
	// SIGTERM, SIGHUP, ...). Once the run has started in the guest, the
	// first one is forwarded to it, which stops and collects its workers
	// as that signal would on the host, and Run returns its exit code
	// (128+n) and result. A signal before the run starts, a second
	// signal, or a guest that does not finish within StopGrace of the
	// first has QEMU killed; Run then returns 128+n and ErrInterrupted.
	// The values must be syscall.Signal.
	Signals <-chan os.Signal

	// Stdout and Stderr receive the script's output as it arrives; Log
	// receives progress and warnings (kernel download, accelerator
	// fallback); Console, if set, the guest's raw serial console (kernel
	// log and init messages), for --verbose. Nil discards.
	Stdout, Stderr, Log, Console io.Writer
}

// RunArgs are the `ktstar run` flags forwarded to the guest.
type RunArgs struct {
	// JSON, when set, is the host file that receives the guest's --json
	// result.
	JSON string
	// Set holds k=v overrides, passed as repeated --set.
	Set []string
	// Quiet passes -q.
	Quiet bool
	// Histogram and Progress pass --histogram and --progress.
	Histogram, Progress bool
	// Repeat, above 1, passes --repeat: the guest runs the script that
	// many times into one result.
	Repeat int
	// Interval, when positive, passes --interval (timeline sampling).
	Interval time.Duration
	// WorkOverride, when set, passes --work-override.
	WorkOverride string
	// Args follow `--`.
	Args []string
	// Scheduler is the host path of a scheduler to copy in (as a File, at
	// GuestSchedulerDir/<its name>) and start before the script
	// (--scheduler), with SchedulerArgs, readiness SchedulerReady ("" is
	// the default) and SchedulerTimeout (0 is the default).
	Scheduler        string
	SchedulerArgs    []string
	SchedulerReady   string
	SchedulerTimeout time.Duration
}

// GuestSchedulerDir is where RunArgs.Scheduler lands in the guest.
const GuestSchedulerDir = "/ktstar/bin"

// File is a host file copied into the guest.
type File struct {
	Host  string // host path
	Guest string // absolute guest path; empty: the host path made absolute
}

// ParseFile reads the --file flag: HOST or HOST:GUEST, GUEST absolute.
func ParseFile(s string) (File, error) {
	host, guest, _ := strings.Cut(s, ":")
	if host == "" {
		return File{}, fmt.Errorf("--file %q: want HOST[:GUEST]", s)
	}
	if guest != "" && !strings.HasPrefix(guest, "/") {
		return File{}, fmt.Errorf("--file %q: the guest path %q must be absolute", s, guest)
	}
	return File{Host: host, Guest: guest}, nil
}

// Node is one NUMA node of an explicit layout.
type Node struct {
	CPUs   int   // vCPUs on this node, a multiple of the SMT threads; 0: memory only (not node 0)
	Memory int64 // bytes; 0 means an even share of Options.Memory
}

// ParseNUMA reads the --numa flag: a single count ("2", an even split) or
// a comma-separated per-node list of CPUS[:MEMORY] ("3,1" or
// "2:1G,2:512M"); a node of 0 CPUs is memory-only ("4,0:512M").
func ParseNUMA(s string) (count int, nodes []Node, err error) {
	if !strings.ContainsAny(s, ",:") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxNodes {
			return 0, nil, fmt.Errorf("--numa %q: want a node count 1..%d or a list CPUS[:MEM],...", s, maxNodes)
		}
		return n, nil, nil
	}
	for i, part := range strings.Split(s, ",") {
		cpus, mem, hasMem := strings.Cut(part, ":")
		var nd Node
		if nd.CPUs, err = strconv.Atoi(cpus); err != nil || nd.CPUs < 0 {
			return 0, nil, fmt.Errorf("--numa %q: node %d: CPUs %q: want a whole number (0 for a memory-only node)", s, i, cpus)
		}
		if hasMem {
			if nd.Memory, err = ParseSize(mem); err != nil {
				return 0, nil, fmt.Errorf("--numa %q: node %d: %w", s, i, err)
			}
		}
		nodes = append(nodes, nd)
	}
	return len(nodes), nodes, nil
}

// ParseSize reads a byte size such as "512M", "2G" or "1048576" (K, M, G,
// T are powers of 1024; an optional trailing "B" or "iB" is accepted).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	shift := 0
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			shift = 10 * (i + 1)
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)>>shift {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M, G or T suffix", s)
	}
	return n << shift, nil
}

// Limits checked by resolve.
const (
	maxCPUs  = 255 // QEMU's pc machine limit without an IOMMU
	maxNodes = 64
	maxSMT   = 8
	maxLLCs  = 64
	minNode  = 64 << 20 // below this a node cannot hold the kernel's per-node data
)

// topology is the resolved guest shape: QEMU's -smp sockets, dies
// (each its own L3, so one LLC), cores per die and threads per core, and
// each node's vCPU index range and memory.
type topology struct {
	sockets, dies, cores, threads int
	memMiB                        int64
	nodes                         []nodeRange // empty: no -numa options
}

type nodeRange struct {
	first, last int // vCPU indexes, inclusive; last < first for a memory-only node
	memMiB      int64
}

// resolve checks the accelerator, disk, timeout, CPU, SMT, NUMA and memory
// options and works out the topology. Each node is given whole sockets: the socket size is the
// greatest common divisor of the nodes' core counts, so SMT siblings and
// last-level caches never straddle nodes (the kernel warns and builds odd
// scheduling domains when they do).
func (o *Options) resolve() (topology, error) {
	switch o.Accel {
	case "", AccelAuto, AccelKVM, AccelTCG:
	default:
		return topology{}, fmt.Errorf("accel %q: want %s, %s or %s", o.Accel, AccelAuto, AccelKVM, AccelTCG)
	}
	if o.Disk < 0 || o.Disk%512 != 0 {
		return topology{}, fmt.Errorf("disk %d: want a size in whole 512-byte sectors", o.Disk)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", o.Timeout}, {"boot timeout", o.BootTimeout}, {"stop grace", o.StopGrace}} {
		if d.v < 0 {
			return topology{}, fmt.Errorf("%s %v: want a positive duration (or 0 for the default)", d.name, d.v)
		}
	}
	threads := o.SMT
	if threads == 0 {
		threads = 1
	}
	if threads < 1 || threads > maxSMT {
		return topology{}, fmt.Errorf("smt %d: want 1..%d threads per core", o.SMT, maxSMT)
	}
	mem := o.Memory
	nodes := o.Nodes
	cpus := o.CPUs
	if len(nodes) > 0 {
		sum, memSum, allMem := 0, int64(0), true
		for _, n := range nodes {
			sum += n.CPUs
			memSum += n.Memory
			allMem = allMem && n.Memory > 0
		}
		if cpus == 0 {
			cpus = sum
		}
		if cpus != sum {
			return topology{}, fmt.Errorf("cpus %d: the NUMA nodes list %d CPUs in total", cpus, sum)
		}
		if mem == 0 && allMem {
			mem = memSum
		}
	} else {
		if cpus == 0 {
			cpus = DefaultCPUs
		}
		if o.NUMA > 1 {
			if cpus%o.NUMA != 0 {
				return topology{}, fmt.Errorf("numa %d: cpus %d do not split evenly over %d nodes", o.NUMA, cpus, o.NUMA)
			}
			nodes = make([]Node, o.NUMA)
			for i := range nodes {
				nodes[i].CPUs = cpus / o.NUMA
			}
		}
	}
	if cpus < 1 || cpus > maxCPUs {
		return topology{}, fmt.Errorf("cpus %d: want 1..%d", cpus, maxCPUs)
	}
	if len(nodes) > maxNodes {
		return topology{}, fmt.Errorf("numa %d: want at most %d nodes", len(nodes), maxNodes)
	}
	if mem == 0 {
		mem = DefaultMemory
	}
	if mem < 128<<20 || mem%(1<<20) != 0 {
		return topology{}, fmt.Errorf("memory %d: want a whole number of MiB, at least 128M", mem)
	}
	t := topology{dies: 1, threads: threads, memMiB: mem >> 20}
	if cpus%threads != 0 {
		return topology{}, fmt.Errorf("cpus %d: not a multiple of smt %d", cpus, threads)
	}
	if o.LLCs < 0 || o.LLCs > maxLLCs {
		return topology{}, fmt.Errorf("llcs %d: want 1..%d LLCs per node", o.LLCs, maxLLCs)
	}
	if len(nodes) == 0 {
		t.sockets, t.cores = 1, cpus/threads
		if o.LLCs > 0 {
			if t.cores%o.LLCs != 0 {
				return topology{}, fmt.Errorf("llcs %d: %d cores (cpus %d / smt %d) do not split evenly into %d LLCs", o.LLCs, t.cores, cpus, threads, o.LLCs)
			}
			t.dies, t.cores = o.LLCs, t.cores/o.LLCs
		}
		return t, nil
	}
	if err := t.splitNodes(nodes, mem); err != nil {
		return topology{}, err
	}
	if o.LLCs > 0 {
		if err := t.splitLLCs(nodes, o.LLCs); err != nil {
			return topology{}, err
		}
	}
	return t, nil
}

// splitLLCs makes every node with CPUs one socket of llcs dies, each die
// an LLC of the same number of cores (QEMU's dies are all alike).
func (t *topology) splitLLCs(nodes []Node, llcs int) error {
	perLLC, sockets := 0, 0
	for i, n := range nodes {
		if n.CPUs == 0 {
			continue
		}
		cores := n.CPUs / t.threads
		if cores%llcs != 0 {
			return fmt.Errorf("llcs %d: numa node %d's %d cores do not split evenly into %d LLCs", llcs, i, cores, llcs)
		}
		if perLLC != 0 && cores/llcs != perLLC {
			return fmt.Errorf("llcs %d: numa node %d would have %d cores per LLC, the nodes before it %d: with --llcs every node needs the same CPU count", llcs, i, cores/llcs, perLLC)
		}
		perLLC = cores / llcs
		sockets++
	}
	t.sockets, t.dies, t.cores = sockets, llcs, perLLC
	return nil
}

// splitNodes fills t.nodes, t.sockets and t.cores from a node list.
func (t *topology) splitNodes(nodes []Node, mem int64) error {
	var given int64
	unsized := 0
	perSocket := 0
	for i, n := range nodes {
		if n.CPUs < 0 || n.CPUs%t.threads != 0 || (i == 0 && n.CPUs == 0) {
			return fmt.Errorf("numa node %d: %d CPUs: want a multiple of smt %d (0 for a memory-only node, except node 0)", i, n.CPUs, t.threads)
		}
		if n.Memory%(1<<20) != 0 || n.Memory < 0 {
			return fmt.Errorf("numa node %d: memory %d: want a whole number of MiB", i, n.Memory)
		}
		given += n.Memory
		if n.Memory == 0 {
			unsized++
		}
		perSocket = gcd(perSocket, n.CPUs/t.threads)
	}
	if given > mem || (unsized == 0 && given != mem) {
		return fmt.Errorf("memory %dM: the NUMA nodes ask for %dM", mem>>20, given>>20)
	}
	share := int64(0)
	if unsized > 0 {
		share = (mem - given) >> 20 / int64(unsized)
	}
	first := 0
	var placed int64
	for i, n := range nodes {
		m := n.Memory >> 20
		if m == 0 {
			m = share
		}
		if m<<20 < minNode {
			return fmt.Errorf("numa node %d: %dM of memory: want at least %dM per node", i, m, minNode>>20)
		}
		t.nodes = append(t.nodes, nodeRange{first: first, last: first + n.CPUs - 1, memMiB: m})
		first += n.CPUs
		placed += m
	}
	// An uneven share leaves a few MiB over: give them to node 0 so the
	// nodes add up to -m exactly, as QEMU requires.
	t.nodes[0].memMiB += t.memMiB - placed
	t.cores = perSocket
	t.sockets = first / t.threads / perSocket
	return nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
