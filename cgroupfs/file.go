package cgroupfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeLimit bounds every cgroup file write (ktstr's 2 s): a write to
// cgroup.procs or cpuset.cpus can block on kernel locks, and a stuck
// scenario must report which file hung instead of hanging itself.
const writeLimit = 2 * time.Second

// readLimit caps a cgroup file read; the files report a size of 4096 or 0.
const readLimit = 1 << 20

// ErrWriteTimeout is wrapped by a FileError when a write did not return
// within 2 s.
var ErrWriteTimeout = errors.New("timed out after 2000ms")

// FileError is a failed read or write of one cgroup file. Its message
// names the file, the data written and the group directory, for example
//
//	write cpuset.cpus "0-3" in /sys/fs/cgroup/ktstar-12-5f3a9c01/a: invalid argument (EINVAL)
type FileError struct {
	Op   string // "read" or "write"
	File string // file name inside the group, e.g. "cpuset.cpus"
	Data string // what was written (write only)
	Dir  string // absolute group directory
	Err  error  // the errno (unix.Errno) or ErrWriteTimeout
}

func (e *FileError) Error() string {
	msg := e.Err.Error()
	var errno unix.Errno
	if errors.As(e.Err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			msg += " (" + name + ")"
		}
	}
	if e.Op == "write" {
		return fmt.Sprintf("write %s %q in %s: %s", e.File, e.Data, e.Dir, msg)
	}
	return fmt.Sprintf("%s %s in %s: %s", e.Op, e.File, e.Dir, msg)
}

// Unwrap returns the underlying errno, so errors.Is(err, unix.EBUSY) works.
func (e *FileError) Unwrap() error { return e.Err }

// beneath returns the absolute path of rel inside mount. rel is cleaned as
// if rooted, so ".." can never climb above the mount.
func beneath(mount, rel string) string {
	return path.Join(mount, path.Clean("/"+rel))
}

// openBeneath opens rel inside mount with openat2 RESOLVE_BENEATH, so
// neither ".." nor a symlink can lead outside the hierarchy (cgroupfs has
// no symlinks; anything else mounted there is not ours to touch).
func openBeneath(mount, rel string, flags int) (*os.File, error) {
	root, err := unix.Open(mount, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), beneath(mount, rel)), nil
}

// readFile reads one file of the group at rel beneath mount.
func readFile(mount, rel, file string) (string, error) {
	dir := beneath(mount, rel)
	f, err := openBeneath(mount, path.Join(rel, file), unix.O_RDONLY)
	if err != nil {
		return "", &FileError{Op: "read", File: file, Dir: dir, Err: errnoOf(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, readLimit))
	if err != nil {
		return "", &FileError{Op: "read", File: file, Dir: dir, Err: errnoOf(err)}
	}
	return string(b), nil
}

// writeFile writes data to one file of the group at rel beneath mount, in
// a single write(2) as cgroupfs requires, giving up after 2 s.
func writeFile(mount, rel, file, data string) error {
	dir := beneath(mount, rel)
	done := make(chan error, 1)
	go func() {
		f, err := openBeneath(mount, path.Join(rel, file), unix.O_WRONLY)
		if err != nil {
			done <- err
			return
		}
		_, err = f.Write([]byte(data))
		f.Close()
		done <- err
	}()
	t := time.NewTimer(writeLimit)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return &FileError{Op: "write", File: file, Data: data, Dir: dir, Err: errnoOf(err)}
		}
		return nil
	case <-t.C:
		return &FileError{Op: "write", File: file, Data: data, Dir: dir, Err: ErrWriteTimeout}
	}
}

// errnoOf strips os.PathError/SyscallError wrappers: FileError already
// names the file, so the bare errno keeps messages short.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
