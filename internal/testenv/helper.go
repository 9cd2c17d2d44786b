package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// StartHelper re-runs the test binary as a helper process, with env set
// to 1 (the package's TestMain turns it into the helper) and no tests
// selected, and returns it with the first line it prints (the helper's
// answer, e.g. the pids it made). The helper is killed and reaped when t
// ends, also when t fails; a test may kill it earlier itself.
func StartHelper(t testing.TB, env string) (*exec.Cmd, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: %v", env, err)
	}
	return cmd, line
}
