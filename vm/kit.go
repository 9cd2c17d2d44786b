package vm

import (
	"fmt"
	"os"
	"path/filepath"
)

// SchedExtKitName is the --kernel preset that boots the sched_ext test
// bed's kernel (make sched-ext-kit, vm/sched-ext-kit.sh).
const SchedExtKitName = "sched-ext-kit"

// SchedExtKitEnv, when set, is the test bed's directory, for
// vm/sched-ext-kit.sh and FindSchedExtKit alike.
const SchedExtKitEnv = "KTSTAR_SCHED_EXT_KIT"

// SchedExtKit is the sched_ext test bed built by make sched-ext-kit: a
// guest kernel with CONFIG_SCHED_CLASS_EXT and the kernel's example BPF
// schedulers.
type SchedExtKit struct {
	Dir    string
	Kernel string // bzImage
	Simple string // scx_simple
	Qmap   string // scx_qmap
}

// SchedExtKitDir is where make sched-ext-kit builds the test bed:
// $KTSTAR_SCHED_EXT_KIT, else $XDG_CACHE_HOME/ktstar/sched-ext-kit
// (usually ~/.cache/ktstar/sched-ext-kit).
func SchedExtKitDir() (string, error) {
	if d := os.Getenv(SchedExtKitEnv); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("sched_ext test bed: %w", err)
	}
	return filepath.Join(base, "ktstar", SchedExtKitName), nil
}

// FindSchedExtKit returns the built test bed, or an error saying how to
// build it. The build script marks the directory complete last, so a
// half-built one is never used.
func FindSchedExtKit() (SchedExtKit, error) {
	dir, err := SchedExtKitDir()
	if err != nil {
		return SchedExtKit{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, completeMark)); err != nil {
		return SchedExtKit{}, fmt.Errorf("no sched_ext test bed in %s: build it with make sched-ext-kit (see vm/sched-ext-kit.sh)", dir)
	}
	return SchedExtKit{Dir: dir, Kernel: filepath.Join(dir, "bzImage"),
		Simple: filepath.Join(dir, "scx_simple"), Qmap: filepath.Join(dir, "scx_qmap")}, nil
}

// accelArg is QEMU's -accel value for accel and the kernel asked for. The
// test bed's kernel runs TCG single-threaded: multi-threaded TCG can run
// another vCPU's stale translation of code the kernel is rewriting, and
// enabling sched_ext flips static keys by int3 text patching, so about
// one boot in ten died with "Oops: int3" in __schedule (none in 30
// single-threaded ones).
func accelArg(accel, kernel string) string {
	if accel == AccelTCG && kernel == SchedExtKitName {
		return accel + ",thread=single"
	}
	return accel
}
