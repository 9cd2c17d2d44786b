// Command guestinit stands in for ktstar as the /init of the vm package's
// own guest tests, which test the machinery rather than scripts: as PID 1
// it calls vm.GuestInit exactly as ktstar's main does; as the `run` child
// it performs the action named after `--` instead of running a Starlark
// script.
//
//	topology        print cpus=N nodes=N smt=<sibling lists> disk=<bytes> script=<bytes>
//	exit N          exit with code N
//	hang            never finish
//	trap            wait for SIGINT or SIGTERM, write {"caught":N} to the --json file, exit 128+N
//	deaf            ignore SIGINT, SIGTERM and SIGHUP and never finish
//	json            write {"answer":42} to the --json file
//	spam N          print N bytes of output
//	cat FILE        print a guest file
//
// With KTSTARTEST_INIT_EXITS=1 on the kernel command line (the kernel puts
// it in init's environment), PID 1 returns instead, which panics the
// kernel ("Attempted to kill init").
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ktstar/ktstar/vm"
)

func main() {
	if vm.IsGuestInit() {
		if os.Getenv("KTSTARTEST_INIT_EXITS") == "1" {
			return
		}
		vm.GuestInit()
	}
	if len(os.Args) < 3 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: guestinit run SCRIPT [--json F] -- ACTION")
		os.Exit(2)
	}
	script, jsonPath, action := os.Args[2], "", []string(nil)
	for i := 3; i < len(os.Args); i++ {
		switch os.Args[i] {
		case "--json":
			i++
			jsonPath = os.Args[i]
		case "--":
			action = os.Args[i+1:]
			i = len(os.Args)
		}
	}
	if len(action) == 0 {
		fmt.Fprintln(os.Stderr, "guestinit: no action after --")
		os.Exit(2)
	}
	switch action[0] {
	case "topology":
		topology(script)
	case "exit":
		code, _ := strconv.Atoi(action[1])
		fmt.Printf("exiting with %d\n", code)
		fmt.Fprintf(os.Stderr, "to stderr before exit %d\n", code)
		os.Exit(code)
	case "hang":
		fmt.Println("hanging")
		for {
			time.Sleep(time.Hour)
		}
	case "trap":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		fmt.Println("trapping")
		sig := (<-c).(syscall.Signal)
		fmt.Printf("caught %v\n", sig)
		if jsonPath != "" {
			if err := os.WriteFile(jsonPath, []byte(fmt.Sprintf(`{"caught":%d}`, sig)), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		os.Exit(128 + int(sig))
	case "deaf":
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		fmt.Println("deaf")
		for {
			time.Sleep(time.Hour)
		}
	case "json":
		if err := os.WriteFile(jsonPath, []byte(`{"answer":42}`), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	case "cat":
		b, err := os.ReadFile(action[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Stdout.Write(b)
	case "spam":
		n, _ := strconv.Atoi(action[1])
		line := strings.Repeat("x", 99) + "\n"
		for ; n >= len(line); n -= len(line) {
			os.Stdout.WriteString(line)
		}
		os.Stdout.WriteString(line[:n])
	default:
		fmt.Fprintf(os.Stderr, "guestinit: unknown action %q\n", action[0])
		os.Exit(2)
	}
}

func topology(script string) {
	cpus, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*")
	nodes, _ := filepath.Glob("/sys/devices/system/node/node[0-9]*")
	seen := map[string]bool{}
	var smt []string
	for i := range cpus {
		b, _ := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", i))
		if s := strings.TrimSpace(string(b)); !seen[s] {
			seen[s] = true
			smt = append(smt, s)
		}
	}
	disk := "none"
	if b, err := os.ReadFile("/sys/block/vda/size"); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		disk = strconv.FormatInt(n*512, 10)
	}
	st, err := os.Stat(script)
	size := int64(-1)
	if err == nil {
		size = st.Size()
	}
	ctrl, _ := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	fmt.Printf("cpus=%d nodes=%d smt=%s disk=%s script=%d guest_env=%s\n", len(cpus), len(nodes),
		strings.Join(smt, ";"), disk, size, os.Getenv(vm.GuestEnv))
	fmt.Printf("controllers=%s\n", strings.TrimSpace(string(ctrl)))
}
