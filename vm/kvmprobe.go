package vm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// kvmProbeName is the file in KernelCacheDir that remembers a failed KVM
// probe, so AccelAuto does not pay ProbeTimeout on every run of a host
// where nested KVM guests hang.
const kvmProbeName = ".kvm-probe"

// kvmUnusableName is the file that remembers why /dev/kvm could not be
// used, so that the note saying so is printed once per host.
const kvmUnusableName = ".kvm-unusable"

// kvmProbe remembers AccelAuto's KVM probe failures for one QEMU binary.
// The result depends on the host kernel (its nested virtualisation) and
// on QEMU, so the record is keyed by the host's kernel release and the
// QEMU binary's path, size and modification time: a new kernel or a QEMU
// upgrade probes again.
type kvmProbe struct {
	path string // the record; "" when there is no cache directory
	key  string
}

func newKVMProbe(qemu string) kvmProbe { return newKVMRecord(qemu, kvmProbeName) }

// newKVMRecord is a record of this host and QEMU in the file name of
// KernelCacheDir.
func newKVMRecord(qemu, name string) kvmProbe {
	dir, err := KernelCacheDir()
	if err != nil {
		return kvmProbe{}
	}
	var u unix.Utsname
	unix.Uname(&u)
	key := "host-kernel=" + unix.ByteSliceToString(u.Release[:]) + " qemu=" + qemu
	if st, err := os.Stat(qemu); err == nil {
		key += fmt.Sprintf(" size=%d mtime=%d", st.Size(), st.ModTime().Unix())
	}
	return kvmProbe{path: filepath.Join(dir, name), key: key}
}

// failed returns the remembered failure's note when the record matches
// this host and QEMU.
func (p kvmProbe) failed() (note string, ok bool) {
	if p.path == "" {
		return "", false
	}
	f, err := os.Open(p.path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != p.key {
		return "", false
	}
	sc.Scan()
	return sc.Text(), true
}

// remember records a failed probe and says where, for the user. It is
// best effort: without the record the next run merely probes again.
func (p kvmProbe) remember(why string) string {
	if p.path == "" || os.MkdirAll(filepath.Dir(p.path), 0o755) != nil {
		return "; --accel tcg skips the probe"
	}
	note := fmt.Sprintf("%s: %s", time.Now().Format(time.DateTime), strings.ReplaceAll(why, "\n", " "))
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(p.key+"\n"+note+"\n"), 0o644); err != nil {
		return "; --accel tcg skips the probe"
	}
	if err := os.Rename(tmp, p.path); err != nil {
		os.Remove(tmp)
		return "; --accel tcg skips the probe"
	}
	return "; later runs on this host skip the probe: " + p.path
}

// firstTime records why and reports whether it is news for this host and
// QEMU, so a note the user has read is not printed on every run.
func (p kvmProbe) firstTime(why string) bool {
	if note, ok := p.failed(); ok && strings.HasSuffix(note, ": "+why) {
		return false
	}
	p.remember(why)
	return true
}

// forget drops the record after KVM booted a guest.
func (p kvmProbe) forget() {
	if p.path != "" {
		os.Remove(p.path)
	}
}
