//go:build !amd64

package workload

import (
	"os"
	"os/signal"
	"syscall"
)

// installStormHandler registers SIGUSR2 with the Go runtime so deliveries
// interrupt the thread and are dropped. Counting them needs the assembly
// handler, which exists for amd64 only, so it reports false.
func installStormHandler() (bool, error) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGUSR2)
	return false, nil
}

// stormReceived is 0: deliveries are not counted on this architecture.
func stormReceived() uint64 { return 0 }
