// Package kernfs reads the kernel's /proc files ktstar needs, one file
// (and one reader) per kernel file, each over an fs.FS rooted where /proc
// is, so tests run them over the fixture trees in testdata:
//
//	mountinfo.go  /proc/PID/mountinfo   every mount, octal escapes undone
//	schedstat.go  /proc/PID/task/TID/schedstat
//	numamaps.go   /proc/PID/numa_maps   resident pages per node, per mapping
//	vmstat.go     /proc/vmstat
//
// /proc/PID/stat is read with github.com/prometheus/procfs, which parses
// it correctly (comm with spaces and parentheses included). Its mountinfo
// reader leaves octal escapes in place and it has no numa_maps or vmstat
// reader, so those are here; schedstat, numa_maps and vmstat are also read
// by workers at the start and end of their loop, which stay free of
// dependencies.
//
// The sysfs readers (online CPUs and nodes, topology) are in package topo.
package kernfs

import (
	"errors"
	"os"
)

// Proc is the real /proc.
var Proc = os.DirFS("/proc")

// ErrParse is wrapped by every error about a file's content.
var ErrParse = errors.New("kernfs: unexpected content")
