package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioTypes are the block-IO types. Unlike ktstr, which writes to /dev/vda
// whenever it exists (a scratch disk inside its throwaway VM), ktstar's
// default backing is a per-worker scratch file; a block device is used
// only when named in io_device and not mounted, used as swap or held by
// another device, and a writing type also needs allow_destructive.
var ioTypes = []Type{
	ioType("IoSyncWrite", "io_sync_write",
		"16 synchronous (O_SYNC) 4 KiB writes into the worker's stripe, then fdatasync (a wake sample).",
		unix.O_SYNC, true, func(b *ioBody) Body { return ioSyncWrite{b} }),
	ioType("IoRandRead", "io_rand_read",
		"One 4 KiB O_DIRECT read at a random block-aligned offset; the read is a wake sample.",
		unix.O_DIRECT, false, func(b *ioBody) Body { return ioRandRead{b} }),
	ioType("IoConvoy", "io_convoy",
		"A sequential O_DIRECT 4 KiB write and a random 4 KiB read per iteration, fdatasync every 16th; the whole is a wake sample.",
		unix.O_DIRECT, true, func(b *ioBody) Body { return ioConvoy{b} }),
}

// IO geometry (ktstr's): 4 KiB blocks, 64 stripes (one per worker tid mod
// 64), each at least 64 KiB.
const (
	ioBlock     = 4096
	ioStripes   = 64
	ioMinExtent = 64 << 10
	ioMinBytes  = ioStripes * ioMinExtent // 4 MiB: every stripe fits
)

func ioType(name, ctor, doc string, flag int, writes bool, body func(*ioBody) Body) Type {
	params := []Param{
		{Name: "io_device", Kind: KindString, Default: "", Doc: "block device to use instead of a scratch file; refused when it, a partition or anything stacked on it (holders, loop devices, recursively) is mounted or used as swap, or when anything is stacked on it at all"},
		{Name: "file_kb", Kind: KindInt, Default: int64(16 << 10), Min: ioMinBytes >> 10, Max: 1 << 24, Doc: "size of the scratch file in KiB"},
		{Name: "scratch_dir", Kind: KindString, Default: "", Doc: "directory for the scratch file (default $TMPDIR/ktstar); removed file by file at stop"},
	}
	if writes {
		params = append(params, Param{Name: "allow_destructive", Kind: KindBool, Default: false, Doc: "confirm that io_device's contents may be overwritten"})
	}
	return Type{
		Name: name, Ctor: ctor, Doc: doc, Params: params, Sample: SampleIO,
		Example: map[string]any{"file_kb": ioMinBytes >> 10},
		Validate: func(w Work) error {
			if dev := w.Text("io_device"); dev != "" && writes && !w.Bool("allow_destructive") {
				return fmt.Errorf("io_device = %q: %s overwrites the device's contents; set allow_destructive = True to confirm", dev, ctor)
			}
			return nil
		},
		Preflight: func(w Work) error {
			if dev := w.Text("io_device"); dev != "" {
				return hostBlockGuard().check(dev)
			}
			return nil
		},
		Scratch: func(w Work, token string) []string {
			if w.Text("io_device") != "" {
				return nil
			}
			return []string{filepath.Join(scratchDir(w.Text("scratch_dir")), "io-"+token)}
		},
		New: func(w *Worker) (Body, error) {
			b, err := openIoBody(w, flag, writes)
			if err != nil {
				return nil, err
			}
			return body(b), nil
		},
	}
}

// scratchDir is the directory for scratch files: dir, or $TMPDIR/ktstar.
func scratchDir(dir string) string {
	if dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "ktstar")
}

// ioBody is the backing shared by the three IO types: the open file or
// device, its geometry, an aligned buffer and the worker's stripe.
type ioBody struct {
	w        *Worker
	fd       int
	path     string // scratch file to unlink at Close; "" for a device
	buf      []byte // ioBlock bytes, page-aligned (O_DIRECT)
	capacity int64
	bsize    int64 // logical block size: O_DIRECT offsets are multiples
	base     int64 // this worker's stripe
	extent   int64
	cursor   int64 // IoConvoy's sequential write position
	iter     int64
}

func openIoBody(w *Worker, flag int, writes bool) (_ *ioBody, err error) {
	b := &ioBody{w: w, fd: -1}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.buf, err = unix.Mmap(-1, 0, ioBlock, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return nil, fmt.Errorf("map IO buffer: %w", err)
	}
	if dev := w.work.Text("io_device"); dev != "" {
		err = b.openDevice(dev, flag, writes)
	} else {
		err = b.openScratch(w.work.Type().Scratch(w.work, w.spec.Token)[0], w.work.Int("file_kb")<<10, flag)
	}
	if err != nil {
		return nil, err
	}
	stripe := (b.capacity / ioStripes) &^ (b.bsize - 1)
	b.base = int64(unix.Gettid()%ioStripes) * stripe
	b.extent = max(stripe, ioMinExtent) &^ (ioMinExtent - 1)
	b.cursor = b.base
	return b, nil
}

// openDevice re-checks the device right before opening it: the check in
// Preflight ran in the parent, maybe long before.
func (b *ioBody) openDevice(dev string, flag int, writes bool) error {
	if err := hostBlockGuard().check(dev); err != nil {
		return err
	}
	mode := unix.O_RDONLY
	if writes {
		mode = unix.O_RDWR
	}
	fd, err := unix.Open(dev, mode|flag|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open io_device %q: %w", dev, err)
	}
	b.fd = fd
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		return fmt.Errorf("io_device %q: BLKGETSIZE64: %w", dev, e)
	}
	bs, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return fmt.Errorf("io_device %q: BLKSSZGET: %w", dev, err)
	}
	if size < ioMinBytes {
		return fmt.Errorf("io_device %q is %d bytes, want at least %d (64 stripes of 64 KiB)", dev, size, ioMinBytes)
	}
	b.capacity, b.bsize = int64(size), int64(max(bs, 512))
	return nil
}

// openScratch creates the worker's scratch file exclusively, sizes it and
// reopens it with the type's flag; O_DIRECT is thereby checked at spawn.
func (b *ioBody) openScratch(path string, size int64, flag int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create scratch file: %w", err)
	}
	b.path = path
	err = fillFile(fd, size)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("fill scratch file %s with %d bytes: %w", path, size, err)
	}
	if b.fd, err = unix.Open(path, unix.O_RDWR|flag|unix.O_CLOEXEC, 0); err != nil {
		if flag&unix.O_DIRECT != 0 && err == unix.EINVAL {
			return fmt.Errorf("scratch file %s: the filesystem refuses O_DIRECT; set scratch_dir to a directory on one that supports it", path)
		}
		return fmt.Errorf("open scratch file %s: %w", path, err)
	}
	b.capacity, b.bsize = size, ioBlock
	return nil
}

// fillFile writes size bytes of data to fd and syncs them. A sparse or
// preallocated file would answer reads of its holes and unwritten extents
// with zeros without touching the device, and its first writes would
// allocate blocks: neither is what a disk's blocks do.
func fillFile(fd int, size int64) error {
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + 1)
	}
	for off := int64(0); off < size; {
		n, err := unix.Pwrite(fd, chunk[:min(int64(len(chunk)), size-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return unix.Fdatasync(fd)
}

// Close closes the backing and unlinks a scratch file.
func (b *ioBody) Close() {
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	if b.path != "" {
		os.Remove(b.path)
	}
	if b.buf != nil {
		unix.Munmap(b.buf)
		b.buf = nil
	}
}

// randOffset is a random block-aligned offset with a whole block after it.
func (b *ioBody) randOffset() int64 {
	m := uint64(b.capacity - ioBlock)
	if m == 0 {
		return 0
	}
	return int64(b.w.rand()%m) &^ (b.bsize - 1)
}

func (b *ioBody) write(off int64) bool {
	n, err := unix.Pwrite(b.fd, b.buf, off)
	return b.moved("bytes_written", n, err)
}

func (b *ioBody) read(off int64) bool {
	n, err := unix.Pread(b.fd, b.buf, off)
	return b.moved("bytes_read", n, err)
}

// moved counts the n bytes a pread or pwrite of the buffer moved under
// counter, and an I/O error unless it moved the whole buffer.
func (b *ioBody) moved(counter string, n int, err error) bool {
	b.w.Count(counter, uint64(max(n, 0)))
	if err != nil || n != len(b.buf) {
		b.w.Count("io_errors", 1)
		return false
	}
	return true
}

func (b *ioBody) sync() bool {
	if unix.Fdatasync(b.fd) != nil {
		b.w.Count("io_errors", 1)
		return false
	}
	b.w.Count("fdatasync_calls", 1)
	return true
}

// The three IO bodies share ioBody, its helpers and its Close.
// stepDone ends a step whose timed I/O began at t0: a wake sample when
// all of it succeeded, units of work, and the next iteration.
func (b *ioBody) stepDone(t0 int64, ok bool, units uint64) bool {
	if ok {
		b.w.WakeSample(nanotime() - t0)
	}
	b.w.AddUnits(units)
	b.iter++
	b.w.ResetGap()
	return true
}

type ioSyncWrite struct{ *ioBody }

func (s ioSyncWrite) Step() bool {
	b := s.ioBody
	off := b.base + b.iter%(b.extent/ioMinExtent)*ioMinExtent
	for i := range int64(16) {
		b.write(off + i*ioBlock)
		b.w.AddUnits(1)
	}
	t0 := nanotime()
	return b.stepDone(t0, b.sync(), 0)
}

type ioRandRead struct{ *ioBody }

func (s ioRandRead) Step() bool {
	b := s.ioBody
	off := b.randOffset()
	t0 := nanotime()
	return b.stepDone(t0, b.read(off), 1)
}

type ioConvoy struct{ *ioBody }

func (s ioConvoy) Step() bool {
	b := s.ioBody
	if b.cursor >= b.base+b.extent {
		b.cursor = b.base
	}
	t0 := nanotime()
	ok := b.write(b.cursor)
	b.cursor += ioBlock
	ok = b.read(b.randOffset()) && ok
	if b.iter%16 == 0 {
		ok = b.sync() && ok
	}
	return b.stepDone(t0, ok, 2)
}
