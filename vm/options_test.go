package vm

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want topology
	}{
		{"defaults", Options{}, topology{sockets: 1, dies: 1, cores: 2, threads: 1, memMiB: 1024}},
		{"numa 2", Options{CPUs: 4, NUMA: 2}, topology{sockets: 2, dies: 1, cores: 2, threads: 1, memMiB: 1024,
			nodes: []nodeRange{{0, 1, 512}, {2, 3, 512}}}},
		{"smt 2", Options{CPUs: 4, SMT: 2}, topology{sockets: 1, dies: 1, cores: 2, threads: 2, memMiB: 1024}},
		{"numa 2 smt 2", Options{CPUs: 8, NUMA: 2, SMT: 2, Memory: 2 << 30}, topology{sockets: 2, dies: 1, cores: 2, threads: 2, memMiB: 2048,
			nodes: []nodeRange{{0, 3, 1024}, {4, 7, 1024}}}},
		{"uneven list", Options{Nodes: []Node{{CPUs: 3}, {CPUs: 1}}, Memory: 1000 << 20}, topology{sockets: 4, dies: 1, cores: 1, threads: 1, memMiB: 1000,
			nodes: []nodeRange{{0, 2, 500}, {3, 3, 500}}}},
		{"odd memory share", Options{CPUs: 3, NUMA: 3, Memory: 1025 << 20}, topology{sockets: 3, dies: 1, cores: 1, threads: 1, memMiB: 1025,
			nodes: []nodeRange{{0, 0, 343}, {1, 1, 341}, {2, 2, 341}}}},
		{"node memory", Options{Nodes: []Node{{CPUs: 2, Memory: 768 << 20}, {CPUs: 2, Memory: 256 << 20}}}, topology{sockets: 2, dies: 1, cores: 2, threads: 1, memMiB: 1024,
			nodes: []nodeRange{{0, 1, 768}, {2, 3, 256}}}},
		{"memory-only node", Options{Nodes: []Node{{CPUs: 2}, {CPUs: 0, Memory: 256 << 20}}, Memory: 768 << 20}, topology{sockets: 1, dies: 1, cores: 2, threads: 1, memMiB: 768,
			nodes: []nodeRange{{0, 1, 512}, {2, 1, 256}}}},
		{"mixed node memory", Options{Nodes: []Node{{CPUs: 4, Memory: 1 << 30}, {CPUs: 2}}, Memory: 1536 << 20}, topology{sockets: 3, dies: 1, cores: 2, threads: 1, memMiB: 1536,
			nodes: []nodeRange{{0, 3, 1024}, {4, 5, 512}}}},
		{"llcs 2", Options{CPUs: 4, LLCs: 2}, topology{sockets: 1, dies: 2, cores: 2, threads: 1, memMiB: 1024}},
		{"llcs 2 smt 2", Options{CPUs: 8, LLCs: 2, SMT: 2}, topology{sockets: 1, dies: 2, cores: 2, threads: 2, memMiB: 1024}},
		{"llcs 2 per node", Options{CPUs: 16, NUMA: 2, LLCs: 2}, topology{sockets: 2, dies: 2, cores: 4, threads: 1, memMiB: 1024,
			nodes: []nodeRange{{0, 7, 512}, {8, 15, 512}}}},
		{"llcs 1 per node", Options{CPUs: 4, NUMA: 2, LLCs: 1}, topology{sockets: 2, dies: 1, cores: 2, threads: 1, memMiB: 1024,
			nodes: []nodeRange{{0, 1, 512}, {2, 3, 512}}}},
		{"llcs with a memory-only node", Options{Nodes: []Node{{CPUs: 4}, {CPUs: 0}}, LLCs: 2}, topology{sockets: 1, dies: 2, cores: 2, threads: 1, memMiB: 1024,
			nodes: []nodeRange{{0, 3, 512}, {4, 3, 512}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.o.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"uneven numa", Options{CPUs: 4, NUMA: 3}, "cpus 4 do not split evenly over 3 nodes"},
		{"odd disk", Options{Disk: 1000}, "disk 1000: want a size in whole 512-byte sectors"},
		{"negative timeout", Options{Timeout: -1}, "timeout -1ns: want a positive duration"},
		{"negative boot timeout", Options{BootTimeout: -time.Second}, "boot timeout -1s: want a positive duration"},
		{"negative stop grace", Options{StopGrace: -time.Second}, "stop grace -1s: want a positive duration"},
		{"smt not dividing", Options{CPUs: 3, SMT: 2}, "cpus 3: not a multiple of smt 2"},
		{"smt range", Options{SMT: 9}, "smt 9: want 1..8"},
		{"too many cpus", Options{CPUs: 300}, "cpus 300: want 1..255"},
		{"negative cpus", Options{CPUs: -1}, "cpus -1: want 1..255"},
		{"small memory", Options{Memory: 64 << 20}, "at least 128M"},
		{"partial MiB", Options{Memory: 1<<30 + 1}, "whole number of MiB"},
		{"nodes vs cpus", Options{CPUs: 4, Nodes: []Node{{CPUs: 2}, {CPUs: 1}}}, "cpus 4: the NUMA nodes list 3 CPUs"},
		{"node smt", Options{SMT: 2, Nodes: []Node{{CPUs: 3}, {CPUs: 1}}}, "numa node 0: 3 CPUs: want a multiple of smt 2"},
		{"memory-only node 0", Options{Nodes: []Node{{CPUs: 0, Memory: 256 << 20}, {CPUs: 2}}}, "numa node 0: 0 CPUs: want a multiple of smt 1 (0 for a memory-only node, except node 0)"},
		{"node memory sum", Options{Memory: 1 << 30, Nodes: []Node{{CPUs: 1, Memory: 1 << 30}, {CPUs: 1, Memory: 1 << 30}}}, "memory 1024M: the NUMA nodes ask for 2048M"},
		{"tiny node", Options{CPUs: 8, NUMA: 8, Memory: 256 << 20}, "numa node 0: 32M of memory: want at least 64M"},
		{"llcs not dividing", Options{CPUs: 6, LLCs: 4}, "llcs 4: 6 cores (cpus 6 / smt 1) do not split evenly into 4 LLCs"},
		{"llcs range", Options{LLCs: 65}, "llcs 65: want 1..64 LLCs per node"},
		{"llcs node not dividing", Options{Nodes: []Node{{CPUs: 4}, {CPUs: 3}}, LLCs: 2}, "llcs 2: numa node 1's 3 cores do not split evenly into 2 LLCs"},
		{"llcs uneven nodes", Options{Nodes: []Node{{CPUs: 4}, {CPUs: 2}}, LLCs: 2}, "llcs 2: numa node 1 would have 1 cores per LLC, the nodes before it 2: with --llcs every node needs the same CPU count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.o.resolve()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseNUMA(t *testing.T) {
	tests := []struct {
		in    string
		count int
		nodes []Node
		err   string
	}{
		{in: "2", count: 2},
		{in: "3,1", count: 2, nodes: []Node{{CPUs: 3}, {CPUs: 1}}},
		{in: "2:1G,2:512M", count: 2, nodes: []Node{{CPUs: 2, Memory: 1 << 30}, {CPUs: 2, Memory: 512 << 20}}},
		{in: "4,0:512M", count: 2, nodes: []Node{{CPUs: 4}, {CPUs: 0, Memory: 512 << 20}}},
		{in: "4:", err: `node 0: size ""`},
		{in: "2,-1", err: `node 1: CPUs "-1": want a whole number`},
		{in: "0", err: "want a node count 1..64"},
		{in: "two", err: "want a node count"},
		{in: "2,x", err: `node 1: CPUs "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			count, nodes, err := ParseNUMA(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil || count != tt.count || !reflect.DeepEqual(nodes, tt.nodes) {
				t.Fatalf("ParseNUMA = %d, %+v, %v; want %d, %+v", count, nodes, err, tt.count, tt.nodes)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1048576", 1 << 20}, {"512M", 512 << 20}, {"2G", 2 << 30}, {"2GiB", 2 << 30}, {"1gb", 1 << 30},
		{"64k", 64 << 10}, {"1T", 1 << 40}, {"", -1}, {"G", -1}, {"-1G", -1}, {"1.5G", -1}, {"0", -1}, {"2048T", -1},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestQemuArgs(t *testing.T) {
	topo := topology{sockets: 2, dies: 1, cores: 1, threads: 2, memMiB: 1024, nodes: []nodeRange{{0, 1, 512}, {2, 3, 512}}}
	files := qemuFiles{initrd: "/proc/self/fd/3", console: "/proc/self/fd/4", dataSerial: 5, dataVirtio: 6}
	args := strings.Join(qemuArgs("/k", AccelTCG, "console=ttyS0", topo, files), " ")
	for _, want := range []string{
		"-accel tcg", "-cpu max,vendor=GenuineIntel", "-m 1024M", "-no-reboot",
		"-smp 4,sockets=2,dies=1,cores=1,threads=2",
		"-object memory-backend-ram,id=mem0,size=512M -numa node,nodeid=0,cpus=0-1,memdev=mem0",
		"-object memory-backend-ram,id=mem1,size=512M -numa node,nodeid=1,cpus=2-3,memdev=mem1",
		"-chardev file,id=con,path=/proc/self/fd/4 -serial chardev:con -chardev socket,id=data,fd=5 -serial chardev:data",
		"-chardev socket,id=vdata,fd=6 -device virtserialport,bus=vser.0,chardev=vdata,name=ktstar.data",
		"-kernel /k -initrd /proc/self/fd/3 -append console=ttyS0",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(args, "-drive") {
		t.Errorf("a disk without Disk: %s", args)
	}
	files.disk = "/proc/self/fd/7"
	args = strings.Join(qemuArgs("/k", AccelKVM, "", topology{sockets: 1, dies: 1, cores: 1, threads: 1, memMiB: 512}, files), " ")
	for _, want := range []string{"-accel kvm -m 512M -smp 1,sockets=1,dies=1,cores=1,threads=1 -cpu host,-arch-capabilities", "-drive file=/proc/self/fd/7,format=raw,if=virtio"} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(args, "-numa") {
		t.Errorf("-numa without nodes: %s", args)
	}
	topo = topology{sockets: 1, dies: 1, cores: 2, threads: 1, memMiB: 768, nodes: []nodeRange{{0, 1, 512}, {2, 1, 256}}}
	args = strings.Join(qemuArgs("/k", AccelTCG, "", topo, files), " ")
	if want := "-numa node,nodeid=1,memdev=mem1"; !strings.Contains(args, want) {
		t.Errorf("a memory-only node: args lack %q:\n%s", want, args)
	}
}

func TestKernelCmdline(t *testing.T) {
	if got := kernelCmdline(""); !strings.HasPrefix(got, "console=ttyS0 panic=-1 rdinit=/init") {
		t.Errorf("kernelCmdline() = %q", got)
	}
	if got := kernelCmdline("  loglevel=7 "); !strings.HasSuffix(got, " loglevel=7") {
		t.Errorf("extra arguments must come last: %q", got)
	}
}
