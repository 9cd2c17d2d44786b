package kernfs

import (
	"bufio"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// NumaMapping is one line of a numa_maps file (proc_pid_numa_maps(5)).
type NumaMapping struct {
	Addr   uint64         // start address of the mapping
	Policy string         // memory policy, e.g. default, bind:1, interleave:0-1
	Pages  map[int]uint64 // resident pages per node (the N<node>=<pages> tokens)
}

// ReadNumaMaps reads pid's numa_maps ("self" for the caller) from proc.
func ReadNumaMaps(proc fs.FS, pid string) ([]NumaMapping, error) {
	f, err := proc.Open(path.Join(pid, "numa_maps"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseNumaMaps(f)
}

// ParseNumaMaps parses a numa_maps file. Lines whose first field is not a
// hex address are skipped.
func ParseNumaMaps(r io.Reader) ([]NumaMapping, error) {
	var out []NumaMapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil {
			continue
		}
		m := NumaMapping{Addr: addr, Policy: fields[1], Pages: map[int]uint64{}}
		for _, f := range fields[2:] {
			if len(f) < 2 || f[0] != 'N' {
				continue
			}
			node, count, ok := strings.Cut(f[1:], "=")
			if !ok {
				continue
			}
			n, err1 := strconv.Atoi(node)
			c, err2 := strconv.ParseUint(count, 10, 64)
			if err1 == nil && err2 == nil {
				m.Pages[n] += c
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// SumPages adds the resident pages per node of the mappings keep accepts
// (every mapping when keep is nil).
func SumPages(maps []NumaMapping, keep func(NumaMapping) bool) map[int]uint64 {
	pages := map[int]uint64{}
	for _, m := range maps {
		if keep != nil && !keep(m) {
			continue
		}
		for n, c := range m.Pages {
			pages[n] += c
		}
	}
	return pages
}
