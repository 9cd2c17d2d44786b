package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RootBlockDevice returns the block device node mounted at / (on these
// hosts /dev/vda, the root disk), for tests that check it is refused; it
// skips t where / is not on a block device. Tests must never open it for
// writing.
func RootBlockDevice(t testing.TB) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	uevent, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		skipf(t, "/ is not on a block device (%v)", err)
	}
	for _, line := range strings.Split(string(uevent), "\n") {
		if name, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return "/dev/" + name
		}
	}
	skipf(t, "no DEVNAME for the device of /")
	return ""
}
