// Package testenv answers what this machine offers a test (root, cgroup
// v2 and its controllers, CPUs, CAP_SYS_NICE, QEMU and a guest kernel)
// and skips the test, saying why, when something it needs is missing. It
// replaces the skip preambles each package's tests used to copy.
//
// The Need* helpers skip; the plain ones (CgroupMode, HasController,
// HasCapSysNice) only report. Every skip goes through one function; a
// missing tool goes through MissingTool, which fails instead under
// RequireToolsEnv (CI).
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// skipf skips t with the reason, prefixed so a skip reads as one in a
// long test log.
func skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skip("testenv: " + fmt.Sprintf(format, args...))
}

// RequireToolsEnv, when set to a non-empty value, turns a skip for a
// missing tool (QEMU, a guest kernel, chromium, a C toolchain) into a
// failure. CI sets it (.ci/run installs every tool first), so there a
// test that would quietly not run fails instead.
const RequireToolsEnv = "KTSTAR_REQUIRE_TOOLS"

// MissingTool skips t because a tool it needs is not installed, saying
// which and how to get it, or fails t when RequireToolsEnv is set.
func MissingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireToolsEnv) != "" {
		t.Fatalf("testenv: %s (%s is set: every tool must be installed)", fmt.Sprintf(format, args...), RequireToolsEnv)
	}
	skipf(t, format, args...)
}
