package kernfs

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one line of a mountinfo file (proc_pid_mountinfo(5)).
type Mount struct {
	Dev    uint64 // st_dev of files on the mount (field 3, major:minor)
	Root   string // the path of the mounted file system's root
	Point  string // where it is mounted
	FSType string // e.g. cgroup2, ext4
	Source string // e.g. /dev/vda1, cgroup2, tmpfs
}

// ReadMountInfo reads pid's mountinfo ("self" for the caller) from proc.
func ReadMountInfo(proc fs.FS, pid string) ([]Mount, error) {
	name := path.Join(pid, "mountinfo")
	f, err := proc.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts, err := ParseMountInfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return mounts, nil
}

// ParseMountInfo parses a mountinfo file:
//
//	ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
//
// undoing the \ooo escapes the kernel writes for space, tab, newline and
// backslash in paths.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 6 || len(tail) < 2 {
			return nil, fmt.Errorf("%w: mountinfo line %q", ErrParse, sc.Text())
		}
		dev, err := parseDev(fields[2])
		if err != nil {
			return nil, fmt.Errorf("%w: mountinfo line %q: %v", ErrParse, sc.Text(), err)
		}
		out = append(out, Mount{
			Dev:    dev,
			Root:   unescapeOctal(fields[3]),
			Point:  unescapeOctal(fields[4]),
			FSType: tail[0],
			Source: unescapeOctal(tail[1]),
		})
	}
	return out, sc.Err()
}

// parseDev parses "major:minor".
func parseDev(s string) (uint64, error) {
	maj, min, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("device %q is not major:minor", s)
	}
	return unix.Mkdev(uint32(a), uint32(b)), nil
}

// unescapeOctal undoes mountinfo's \ooo escapes (space is \040).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
