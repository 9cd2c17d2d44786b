package kernfs

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// ReadVmstat reads /proc/vmstat from proc: every counter by name.
func ReadVmstat(proc fs.FS) (map[string]uint64, error) {
	f, err := proc.Open("vmstat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseVmstat(f)
}

// ParseVmstat parses vmstat's "name value" lines.
func ParseVmstat(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			return nil, fmt.Errorf("%w: vmstat line %q", ErrParse, sc.Text())
		}
		v, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: vmstat line %q: %v", ErrParse, sc.Text(), err)
		}
		out[name] = v
	}
	return out, sc.Err()
}
