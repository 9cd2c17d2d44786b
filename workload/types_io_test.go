package workload

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
	"golang.org/x/sys/unix"
)

// ioWork builds an IO work type whose scratch file goes to a fresh
// directory the test can inspect.
func ioWork(t *testing.T, name string) (Work, string) {
	dir := t.TempDir()
	return MustWork(name, map[string]any{"scratch_dir": dir, "file_kb": 4096}), dir
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("scratch files left in %s: %v", dir, left)
	}
}

func TestIoTypesCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		// per iteration: bytes written, bytes read, units
		written, read, units uint64
	}{
		{"IoSyncWrite", 16 * 4096, 0, 16},
		{"IoRandRead", 0, 4096, 1},
		{"IoConvoy", 4096, 4096, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work, dir := ioWork(t, tc.name)
			h := spawnWork(t, Config{Work: work, Workers: 2})
			if files, _ := os.ReadDir(dir); len(files) != 2 {
				t.Errorf("scratch dir holds %d files after spawn, want one per worker", len(files))
			}
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			testenv.WaitProgress(t, h.SnapshotIterations, 1, 200*time.Millisecond, parkLimit)
			for _, r := range stopWork(t, h) {
				it, c := r.Iterations, r.Counters
				if it == 0 || c["io_errors"] != 0 {
					t.Fatalf("iterations = %d, counters %v: want IO without errors", it, c)
				}
				// Stop is seen between iterations, so every count is exact.
				if c["bytes_written"] != tc.written*it || c["bytes_read"] != tc.read*it || r.WorkUnits != tc.units*it {
					t.Errorf("%d iterations: counters %v, work_units %d; want per iteration %d written, %d read, %d units",
						it, c, r.WorkUnits, tc.written, tc.read, tc.units)
				}
				syncs := map[string]uint64{"IoSyncWrite": it, "IoRandRead": 0, "IoConvoy": (it + 15) / 16}[tc.name]
				if c["fdatasync_calls"] != syncs {
					t.Errorf("fdatasync_calls = %d over %d iterations, want %d", c["fdatasync_calls"], it, syncs)
				}
				if r.WakeSampleTotal != it {
					t.Errorf("wake samples = %d, want one per iteration (%d)", r.WakeSampleTotal, it)
				}
			}
			assertEmptyDir(t, dir)
		})
	}
}

// TestIoScratchRemovedAfterKill SIGKILLs a worker: it cannot unlink its
// own file, so the parent must.
func TestIoScratchRemovedAfterKill(t *testing.T) {
	work, dir := ioWork(t, "IoSyncWrite")
	h := spawnWork(t, Config{Work: work})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 1)
	if err := syscall.Kill(h.Pids()[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reports, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	if reports[0].Completed {
		t.Fatal("a SIGKILLed worker produced a complete report")
	}
	assertEmptyDir(t, dir)
}

// TestIoDeviceRefused names the host's root disk. It must be refused as
// mounted before anything opens it: inotify on the device node would see
// a close after a write-capable open (IN_CLOSE_WRITE).
func TestIoDeviceRefused(t *testing.T) {
	root := testenv.RootBlockDevice(t)
	ifd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ifd)
	if _, err := unix.InotifyAddWatch(ifd, root, unix.IN_CLOSE_WRITE); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"IoSyncWrite", "IoRandRead", "IoConvoy"} {
		params := map[string]any{"io_device": root}
		if name != "IoRandRead" {
			params["allow_destructive"] = true
		}
		err := buildAndPreflight(name, params)
		t.Logf("%s: %v", name, err)
		if err == nil || !strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "is mounted") {
			t.Errorf("%s(io_device = %q): %v, want an error naming it and saying it is mounted", name, root, err)
		}
	}
	var buf [4096]byte
	if n, _ := unix.Read(ifd, buf[:]); n > 0 {
		t.Errorf("%s was opened for writing during the check", root)
	}
}

func TestIoDeviceChecks(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"io_device": "/dev/null"}, `io_device = "/dev/null" is not a block device`},
		{map[string]any{"io_device": "/nonexistent/dev"}, "no such file"},
	} {
		if err := buildAndPreflight("IoRandRead", tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("io_rand_read(%v): %v, want %q", tc.params, err, tc.want)
		}
	}
}

// TestScratchFileHasNoHoles checks that the default backing is real data:
// reads of a sparse file's holes return zeros without reaching the device
// (IoRandRead measured 0.7 µs "reads" that way), so every block must exist
// before the loop starts.
func TestScratchFileHasNoHoles(t *testing.T) {
	for _, name := range []string{"IoRandRead", "IoConvoy", "IoSyncWrite"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			const size = 4 << 20
			h, err := Spawn(Config{Workers: 1, Work: MustWork(name, map[string]any{"scratch_dir": dir, "file_kb": size >> 10})})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(files) != 1 {
				t.Fatalf("scratch files of a parked worker: %v", files)
			}
			var st unix.Stat_t
			if err := unix.Stat(files[0], &st); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(files[0], unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			hole, err := unix.Seek(fd, 0, unix.SEEK_HOLE)
			unix.Close(fd)
			if st.Size != size || st.Blocks*512 < size || err != nil || hole != size {
				t.Errorf("%s: size %d, %d bytes allocated, first hole at %d (%v); want %d bytes of data and no hole", files[0], st.Size, st.Blocks*512, hole, err, size)
			}
		})
	}
}

// buildAndPreflight builds a work value and runs its preflight; NewWork
// must accept what only the machine can refuse.
func buildAndPreflight(name string, params map[string]any) error {
	w, err := NewWork(name, params)
	if err != nil {
		return err
	}
	return w.Preflight()
}
