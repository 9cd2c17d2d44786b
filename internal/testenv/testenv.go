// Package testenv answers what this machine offers a test (root, cgroup
// v2 and its controllers, CPUs, CAP_SYS_NICE, QEMU and a guest kernel)
// and skips the test, saying why, when something it needs is missing. It
// replaces the skip preambles each package's tests used to copy.
//
// The Need* helpers skip; the plain ones (CgroupMode, HasController,
// HasCapSysNice) only report. Every skip goes through one function, so a
// mode that turns missing tools into failures changes one place.
package testenv

import (
	"fmt"
	"testing"
)

// skipf skips t with the reason, prefixed so a skip reads as one in a
// long test log.
func skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skip("testenv: " + fmt.Sprintf(format, args...))
}
