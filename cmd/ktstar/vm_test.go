package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
)

// TestVMUsage checks `ktstar vm`'s own errors, which need no guest.
func TestVMUsage(t *testing.T) {
	s := script(t, "print('hi')\n")
	checkUsage(t, []usageCase{
		{"help", []string{"vm", "--help"}, 0, "--numa"},
		{"no script", []string{"vm"}, 2, "want one SCRIPT.star, got 0"},
		{"two scripts", []string{"vm", s, s}, 2, "want one SCRIPT.star, got 2"},
		{"bad numa", []string{"vm", "--numa", "x", s}, 2, `--numa "x": want a node count`},
		{"uneven numa", []string{"vm", "--cpus", "3", "--numa", "2", s}, 2, "cpus 3 do not split evenly over 2 nodes"},
		{"bad memory", []string{"vm", "--memory", "lots", s}, 2, `--memory: size "lots"`},
		{"bad disk", []string{"vm", "--disk", "-1", s}, 2, `--disk: size "-1"`},
		{"bad accel", []string{"vm", "--accel", "xen", s}, 2, `accel "xen": want auto, kvm or tcg`},
		{"bad timeout", []string{"vm", "--timeout", "-1s", s}, 2, "--timeout -1s: want a positive duration, or 0 for no limit"},
		{"bad boot timeout", []string{"vm", "--boot-timeout", "0s", s}, 2, "--boot-timeout 0s: want a positive duration"},
		{"bad set", []string{"vm", "--set", "novalue", s}, 2, `--set "novalue": want KEY=VALUE`},
		{"missing script", []string{"vm", "/nonexistent.star"}, 2, "script: stat /nonexistent.star"},
		{"missing file", []string{"vm", "--file", "/nonexistent/sched", s}, 2, "--file /nonexistent/sched: stat /nonexistent/sched"},
		{"relative guest path", []string{"vm", "--file", "a:bin/a", s}, 2, `the guest path "bin/a" must be absolute`},
		{"missing kernel", []string{"vm", "--kernel", "/nonexistent/bzImage", s}, 2, "no guest kernel: stat /nonexistent/bzImage"},
		{"llcs not dividing", []string{"vm", "--cpus", "6", "--llcs", "4", s}, 2, "llcs 4: 6 cores (cpus 6 / smt 1) do not split evenly into 4 LLCs"},
		{"unknown preset", []string{"vm", "--preset", "huge", s}, 2, `--preset "huge": want a name (tiny-1llc,`},
		{"preset and cpus", []string{"vm", "--preset", "tiny-2llc", "--cpus", "2", s}, 2, "--preset tiny-2llc sets the shape: drop --cpus"},
		{"preset and llcs", []string{"vm", "--preset", "1n2l2c1t", "--llcs", "1", s}, 2, "--preset 1n2l2c1t sets the shape: drop --llcs"},
	})
}

// TestPresets checks that `ktstar presets` lists every preset vm.Presets
// has, with its shape and CPU count.
func TestPresets(t *testing.T) {
	out, _, code := ktstar(t, "", "presets")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines)-1 != len(vm.Presets()) {
		t.Errorf("%d rows, want %d:\n%s", len(lines)-1, len(vm.Presets()), out)
	}
	for i, p := range vm.Presets() {
		if f := strings.Fields(lines[min(i+1, len(lines)-1)]); len(f) < 3 || f[0] != p.Name || f[1] != p.Shape() || f[2] != strconv.Itoa(p.CPUs()) {
			t.Errorf("row %d = %q, want %s %s %d", i+1, f, p.Name, p.Shape(), p.CPUs())
		}
	}
}

// TestVMFileMissingLibrary: a --file program whose library is gone from
// the host fails before any guest boots, naming the library.
func TestVMFileMissingLibrary(t *testing.T) {
	testenv.NeedCC(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "stub.c"), "int stub(void) { return 7; }\n")
	writeFile(t, filepath.Join(dir, "prog.c"), "int stub(void);\nint main(void) { return stub(); }\n")
	lib, prog := filepath.Join(dir, "libktgone.so"), filepath.Join(dir, "prog")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", lib, filepath.Join(dir, "stub.c")},
		{"-o", prog, filepath.Join(dir, "prog.c"), "-L" + dir, "-lktgone", "-Wl,-rpath," + dir},
	} {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	if err := os.Remove(lib); err != nil {
		t.Fatal(err)
	}
	_, errs, code := ktstar(t, "", "vm", "--file", prog+":/bin/prog", script(t, "print('hi')\n"))
	if code != 2 || !strings.Contains(errs, prog+" needs libktgone.so: not found") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 naming libktgone.so", code, errs)
	}
}

// Guest tests run the real binary (static, see TestMain) with `ktstar
// vm`, so each boots a TCG guest: they run only under make test-guest.

// guestOrSkip skips t unless guest tests are on and QEMU and a kernel are
// here.
func guestOrSkip(t *testing.T) {
	t.Helper()
	testenv.NeedQEMU(t, vm.DefaultQEMU)
	testenv.NeedGuestKernel(t, func() error {
		_, err := vm.DefaultKernel(context.Background(), io.Discard)
		return err
	})
}

// ktstarVM runs `ktstar vm` with args and returns stdout, stderr and the
// exit status. The run gets a TMPDIR of its own and a marker on the guest
// kernel's command line (added to kernelArgs); afterwards the test fails
// if that TMPDIR is not empty or a QEMU process with the marker is still
// alive.
func ktstarVM(t *testing.T, kernelArgs string, args ...string) (string, string, int) {
	t.Helper()
	return ktstarVMWith(t, bin, kernelArgs, args...)
}

// ktstarVMWith is ktstarVM with the ktstar binary at path.
func ktstarVMWith(t *testing.T, path, kernelArgs string, args ...string) (string, string, int) {
	t.Helper()
	return ktstarVMHook(t, path, kernelArgs, nil, args...)
}

// ktstarVMHook is ktstarVMWith calling onLine with each line of stdout
// as it arrives and the ktstar vm process. Unless args set their own
// --boot-timeout, a guest gets testenv.GuestBootTimeout to start its run,
// and one that does not is booted once more: nothing of the script ran,
// so a boot hang says nothing of what the test checks.
func ktstarVMHook(t *testing.T, path, kernelArgs string, onLine func(string, *os.Process), args ...string) (string, string, int) {
	t.Helper()
	if slices.Contains(args, "--boot-timeout") {
		return ktstarVMOnce(t, path, kernelArgs, onLine, args...)
	}
	args = append([]string{"--boot-timeout", testenv.GuestBootTimeout.String()}, args...)
	stdout, stderr, code := ktstarVMOnce(t, path, kernelArgs, onLine, args...)
	if code == 2 && strings.Contains(stderr, "the guest did not start its run within the boot timeout") {
		t.Logf("the guest hung in its boot; booting once more. Its error:\n%s", stderr)
		stdout, stderr, code = ktstarVMOnce(t, path, kernelArgs, onLine, args...)
	}
	return stdout, stderr, code
}

// ktstarVMOnce is one run of ktstarVMHook.
func ktstarVMOnce(t *testing.T, path, kernelArgs string, onLine func(string, *os.Process), args ...string) (string, string, int) {
	t.Helper()
	tmp, err := os.MkdirTemp("", "ktstar-vmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	var id [8]byte
	rand.Read(id[:])
	marker := "ktstar_test=" + hex.EncodeToString(id[:])
	accel := os.Getenv(vmtest.AccelEnv)
	if accel == "" {
		accel = vm.AccelTCG
	}
	full := append([]string{"vm", "--accel", accel, "--append", strings.TrimSpace(marker + " " + kernelArgs)}, args...)
	cmd := exec.Command(path, full...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if onLine != nil {
		cmd.Stdout = &lineHook{w: &out, fn: func(l string) { onLine(l, cmd.Process) }}
	}
	start := time.Now()
	err = cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	t.Logf("ktstar %s: exit %d after %.1fs", strings.Join(full, " "), cmd.ProcessState.ExitCode(), time.Since(start).Seconds())
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("ktstar vm left %d entries in its TMPDIR, e.g. %s", len(left), left[0].Name())
	}
	if pids := processesWith(marker); len(pids) > 0 {
		t.Errorf("QEMU still running after ktstar vm exited: pids %v", pids)
		for _, p := range pids {
			if proc, err := os.FindProcess(p); err == nil {
				proc.Kill()
			}
		}
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// lineHook passes what is written to w and each complete line to fn.
type lineHook struct {
	w   io.Writer
	buf []byte
	fn  func(string)
}

func (h *lineHook) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	for {
		i := bytes.IndexByte(h.buf, '\n')
		if i < 0 {
			break
		}
		h.fn(string(h.buf[:i]))
		h.buf = h.buf[i+1:]
	}
	return h.w.Write(p)
}

// processesWith lists live processes whose command line contains s.
func processesWith(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestGuestTopologyExample runs examples/topology.star in guests of two
// shapes: what it prints comes from inside the guest.
func TestGuestTopologyExample(t *testing.T) {
	guestOrSkip(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"4 cpus 2 nodes", []string{"--cpus", "4", "--numa", "2"},
			[]string{"4 CPUs: 0,1,2,3\n", "2 NUMA nodes (0 memory-only)\n", "node 0: CPUs 0,1\n", "node 1: CPUs 2,3\n", "0 SMT sibling groups"}},
		{"smt 2", []string{"--cpus", "4", "--numa", "2", "--smt", "2"},
			[]string{"4 CPUs: 0,1,2,3\n", "2 SMT sibling groups: [0,1] [2,3]\n"}},
		{"memory-only node", []string{"--numa", "2:512M,0:256M", "--memory", "768M"},
			[]string{"2 CPUs: 0,1\n", "2 NUMA nodes (1 memory-only)\n", "node 1: CPUs none\n"}},
		{"llcs 2", []string{"--llcs", "2", "--cpus", "4"},
			[]string{"4 CPUs: 0,1,2,3\n", "1 NUMA nodes", "2 LLCs\n", "LLC 0: CPUs 0,1\n", "LLC 1: CPUs 2,3\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := ktstarVM(t, "", append(tc.args, "../../examples/topology.star")...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			wantAll(t, "stdout", out, tc.want...)
		})
	}
}

// TestGuestDynamicBinary boots a ktstar built as `go install` builds it,
// with cgo and so dynamically linked: the guest carries its loader and
// libraries.
func TestGuestDynamicBinary(t *testing.T) {
	guestOrSkip(t)
	testenv.NeedCC(t)
	dyn := filepath.Join(t.TempDir(), "ktstar-dyn")
	build := exec.Command("go", "build", "-o", dyn, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with cgo: %v\n%s", err, out)
	}
	f, err := elf.Open(dyn)
	if err != nil {
		t.Fatal(err)
	}
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !interp {
		t.Fatal("a cgo build of ktstar is static: this test no longer tests a dynamic binary")
	}
	out, errs, code := ktstarVMWith(t, dyn, "", script(t, "print('dynamic', len(topo.cpus))\n"))
	if code != 0 || !strings.Contains(out, "dynamic 2\n") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and \"dynamic 2\"", code, out, errs)
	}
}

// TestGuestExitCodes checks that 0, 1 (fail) and 2 (a script error) come
// back from inside the guest, with the script's output and error.
func TestGuestExitCodes(t *testing.T) {
	guestOrSkip(t)
	for _, tc := range []struct {
		src          string
		code         int
		inOut, inErr string
	}{
		{"print('fine')\n", 0, "fine\n", ""},
		{"print('about to fail')\nfail('too slow')\n", 1, "about to fail\n", "s.star:2:5: error: fail: too slow"},
		{"print('about to err')\nx = 1 // 0\n", 2, "about to err\n", "s.star:2:7: error: floored division by zero"},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			s := script(t, tc.src)
			out, errs, code := ktstarVM(t, "", s)
			// Errors name the script by its host path, not the guest's.
			inErr := tc.inErr
			if inErr != "" {
				inErr = filepath.Join(filepath.Dir(s), inErr)
			}
			if code != tc.code || !strings.Contains(out, tc.inOut) || !strings.Contains(errs, inErr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout to contain %q and stderr %q", code, tc.code, out, errs, tc.inOut, inErr)
			}
		})
	}
}

// TestGuestJSON checks that --json, --set and the script's arguments
// travel: the host file holds the guest's facts and one report per worker
// with every field.
func TestGuestJSON(t *testing.T) {
	guestOrSkip(t)
	out := filepath.Join(t.TempDir(), "out.json")
	s := script(t, `load("@stdlib//run.star", "wait_progress")
h = spawn(workload(workers = int(params["n"]), work = work.futex_ping_pong()))
h.start()
wait_progress(h, "300ms")
h.stop()
`)
	_, errs, code := ktstarVM(t, "", "--cpus", "2", "-q", "--json", out, "--set", "n=4", s, "--", "x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Script string            `json:"script"`
		Args   []string          `json:"args"`
		Host   map[string]any    `json:"host"`
		Set    map[string]string `json:"params"`
		Runs   []struct {
			Reports []map[string]any `json:"reports"`
		} `json:"runs"`
	}
	b := readJSON(t, out, &doc)
	// The guest's facts, not the host's: 2 CPUs and Debian's kernel.
	if doc.Host["cpu_count"] != 2.0 || !strings.Contains(doc.Host["kernel_release"].(string), "cloud") {
		t.Errorf("host facts %v, want the guest's (2 CPUs, the cloud kernel)", doc.Host)
	}
	if !reflect.DeepEqual(doc.Args, []string{"x"}) || doc.Set["n"] != "4" {
		t.Errorf("args %v, params %v", doc.Args, doc.Set)
	}
	if doc.Script != s {
		t.Errorf("script %q, want the host path %q", doc.Script, s)
	}
	if len(doc.Runs) != 1 || len(doc.Runs[0].Reports) != 4 {
		t.Fatalf("want 1 run of 4 reports, got %s", b)
	}
	checkReportFields(t, doc.Runs[0].Reports)
	for w, r := range doc.Runs[0].Reports {
		if r["completed"] != true || r["work_units"] == 0.0 {
			t.Errorf("report %d: completed %v, work_units %v", w, r["completed"], r["work_units"])
		}
	}
}

// vmInterruptScript starts two spawns, says so once every worker has
// done some work (worker start-up is slow under TCG), and sleeps far past
// any limit.
const vmInterruptScript = `
load("@stdlib//run.star", "wait_progress")
a = spawn(workload(workers = 2))
b = spawn(workload(workers = 2, work = work.futex_ping_pong()))
a.start()
b.start()
wait_progress(a, limit = "5m")
wait_progress(b, limit = "5m")
print("workers running")
sleep("1h")
`

// TestGuestInterrupted: --timeout, and a signal to ktstar vm on the host,
// end the script inside the guest as they end a local run: the workers
// are stopped and collected, their reports come back in --json marked
// with the reason, QEMU is gone and the exit status is a local run's.
// --timeout counts from the script's start: the guest's run lasts all of
// it, however long the boot took.
func TestGuestInterrupted(t *testing.T) {
	guestOrSkip(t)
	for _, tc := range []struct {
		interruption
		says string // on stderr
	}{
		{interruption{"timeout", []string{"--timeout", "20s"}, 0, 2, "timeout"}, "timed out after 20s (--timeout)"},
		{interruption{"SIGINT", nil, syscall.SIGINT, 130, "SIGINT"}, "ktstar vm: SIGINT: the guest's run stops and collects its workers"},
		{interruption{"SIGTERM", nil, syscall.SIGTERM, 143, "SIGTERM"}, "ktstar vm: SIGTERM: the guest's run stops"},
		{interruption{"SIGHUP", nil, syscall.SIGHUP, 129, "SIGHUP"}, "ktstar vm: SIGHUP: the guest's run stops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.json")
			var onLine func(string, *os.Process)
			if tc.sig != 0 {
				onLine = func(l string, p *os.Process) {
					if l == "workers running" {
						p.Signal(tc.sig)
					}
				}
			}
			args := append(append([]string{"--json", out}, tc.flags...), script(t, vmInterruptScript))
			stdout, errs, code := ktstarVMHook(t, bin, "", onLine, args...)
			t.Logf("stderr:\n%s", errs)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(stdout, "workers running\n") {
				t.Fatalf("stdout %q: the script never started its workers", stdout)
			}
			if !strings.Contains(errs, tc.says) {
				t.Errorf("stderr lacks %q", tc.says)
			}
			var doc result.Doc
			b := readJSON(t, out, &doc)
			if len(doc.Runs) != 2 {
				t.Fatalf("--json has %d runs, want both spawns: %s", len(doc.Runs), b)
			}
			for _, r := range doc.Runs {
				if r.Interrupted != tc.reason || len(r.Reports) != 2 {
					t.Errorf("run %d: interrupted %q with %d reports, want %q and 2", r.Handle, r.Interrupted, len(r.Reports), tc.reason)
				}
				// Each worker is accounted for. Whether it reported within
				// the interrupted stop's bound (else it is killed, marked
				// timed_out) depends on how slow TCG is under the host's
				// load, so that is only logged.
				for _, rep := range r.Reports {
					if rep.Tid <= 0 {
						t.Errorf("run %d: a report without a worker: %+v", r.Handle, rep)
					}
					if !rep.Completed {
						t.Logf("run %d worker %d did not report in time under this load: %+v", r.Handle, rep.Tid, rep.ExitInfo)
					}
				}
				for _, g := range r.Groups {
					if label := g.Label + " (interrupted: " + tc.reason + ")"; !strings.Contains(errs, label) {
						t.Errorf("the summary lacks %q", label)
					}
				}
			}
			if doc.ExitStatus != tc.code {
				t.Errorf("--json exit_status %d, want %d", doc.ExitStatus, tc.code)
			}
			if tc.sig == 0 && doc.DurationNs < (20*time.Second).Nanoseconds() {
				t.Errorf("the guest's run lasted %v, less than its --timeout 20s: the boot counted", time.Duration(doc.DurationNs))
			}
		})
	}
}

// TestGuestKernelPanic: a kernel that cannot start init panics, and the
// panic is reported as such. The guest's rdinit points nowhere, so the
// kernel looks for a root file system, finds none and panics.
func TestGuestKernelPanic(t *testing.T) {
	guestOrSkip(t)
	_, errs, code := ktstarVM(t, "rdinit=/nonexistent", script(t, "print('unreachable')\n"))
	t.Logf("the user sees:\n%s", errs)
	if code != 2 || !strings.Contains(errs, "guest kernel panicked: ") || !strings.Contains(errs, "Kernel panic - not syncing") {
		t.Fatalf("exit %d, want 2 and the panic line", code)
	}
}

// TestGuestBootTimeout: a guest stuck in its boot is killed at
// --boot-timeout, and the error ends with its last console lines, which
// say where it was stuck. The guest's rdinit points nowhere and its root
// device never appears, so the kernel waits for it (rootwait) for good.
func TestGuestBootTimeout(t *testing.T) {
	guestOrSkip(t)
	_, errs, code := ktstarVM(t, "rdinit=/nonexistent root=/dev/vdz rootwait", "--boot-timeout", "30s", script(t, "print('unreachable')\n"))
	t.Logf("the user sees:\n%s", errs)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	wantAll(t, "stderr", errs, "the guest did not start its run within the boot timeout 30s: QEMU killed", "console lines:", "Waiting for root device /dev/vdz")
}
