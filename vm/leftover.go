package vm

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LeftMsg starts the line the guest init prints (as the run's stderr)
// when processes outlive the run: a scheduler or workers ktstar failed to
// stop. Tests look for it.
const LeftMsg = "ktstar-init: processes left after the run:"

// leftGrace is how long the guest init gives processes to go after the
// run exits (workers end on their parent's death, asynchronously).
const leftGrace = 2 * time.Second

// pfKthread is the kernel's PF_KTHREAD task flag (/proc/PID/stat field 9).
const pfKthread = 0x00200000

// leftovers returns "PID (COMM)" of every user process in this pid
// namespace but the caller, waiting up to grace for them to go.
func leftovers(grace time.Duration) []string {
	deadline := time.Now().Add(grace)
	for {
		left := userProcesses()
		if len(left) == 0 || !time.Now().Before(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// userProcesses lists the processes that are not kernel threads, without
// this one.
func userProcesses() []string {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var left []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		// After "PID (COMM) ": state ppid pgrp session tty_nr tpgid flags.
		f := strings.Fields(s[end+1:])
		if len(f) < 7 || f[0] == "Z" {
			continue
		}
		if flags, err := strconv.ParseUint(f[6], 10, 64); err != nil || flags&pfKthread != 0 {
			continue
		}
		left = append(left, fmt.Sprintf("%d (%s)", pid, s[open+1:end]))
	}
	sort.Strings(left)
	return left
}
