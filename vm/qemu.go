package vm

import (
	"fmt"
	"strings"
)

// qemuFiles are the guest's host-side files, as paths QEMU opens or
// descriptors it inherits. The paths are /proc/self/fd/N links to
// descriptors the host passes in ExtraFiles (memfd, a pipe, an unlinked
// temp file), so nothing of the guest ever has a name in a temp directory
// and a killed host leaves nothing behind.
type qemuFiles struct {
	initrd  string
	console string // ttyS0: kernel log and init's messages
	// dataSerial and dataVirtio are QEMU's descriptor numbers of the
	// framed data channel's two ports (ttyS1, the virtio-serial port):
	// each one end of a socket pair, frames from the guest one way and
	// the host's control frames (a forwarded signal) the other.
	dataSerial, dataVirtio int
	disk                   string // "" without a scratch disk
}

// qemuArgs builds the QEMU command line for accel ("kvm" or "tcg").
func qemuArgs(kernel, accel, cmdline string, t topology, f qemuFiles) []string {
	a := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35",
		"-accel", accel,
		"-m", fmt.Sprintf("%dM", t.memMiB),
		"-smp", fmt.Sprintf("%d,sockets=%d,dies=%d,cores=%d,threads=%d", t.sockets*t.dies*t.cores*t.threads, t.sockets, t.dies, t.cores, t.threads),
	}
	if accel == AccelKVM {
		// Nested KVM on these hosts does not start with the full host
		// CPU model; hiding IA32_ARCH_CAPABILITIES makes it boot.
		a = append(a, "-cpu", "host,-arch-capabilities")
	} else {
		// TCG's max model says AuthenticAMD but lacks topoext, so Linux
		// sees no SMT siblings; as GenuineIntel it reads leaf 0xB.
		a = append(a, "-cpu", "max,vendor=GenuineIntel")
	}
	for i, n := range t.nodes {
		cpus := ""
		if n.last >= n.first {
			cpus = fmt.Sprintf(",cpus=%d-%d", n.first, n.last)
		}
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-ram,id=mem%d,size=%dM", i, n.memMiB),
			"-numa", fmt.Sprintf("node,nodeid=%d%s,memdev=mem%d", i, cpus, i))
	}
	a = append(a,
		"-chardev", "file,id=con,path="+f.console,
		"-serial", "chardev:con",
		// The data channel: a virtio-serial port, and ttyS1 for kernels
		// without virtio_console. ioeventfd=off makes each port write
		// reach QEMU before the guest's next instruction, so nothing is
		// still queued when the guest powers off.
		"-chardev", fmt.Sprintf("socket,id=data,fd=%d", f.dataSerial),
		"-serial", "chardev:data",
		"-device", "virtio-serial-pci,id=vser,ioeventfd=off",
		"-chardev", fmt.Sprintf("socket,id=vdata,fd=%d", f.dataVirtio),
		"-device", "virtserialport,bus=vser.0,chardev=vdata,name="+dataPortName,
		"-kernel", kernel,
		"-initrd", f.initrd,
		"-append", cmdline,
	)
	if f.disk != "" {
		a = append(a, "-drive", "file="+f.disk+",format=raw,if=virtio,cache=unsafe,discard=unmap")
	}
	return a
}

// kernelCmdline is the guest kernel's command line: the serial console,
// power-off instead of a hang on panic (with -no-reboot QEMU then exits),
// no_timer_check (on a loaded host TCG is too slow for the boot-time timer
// test, which then panics "IO-APIC + timer doesn't work"),
// cryptomgr.notests (the crypto self-tests are slow under TCG, and with
// more vCPUs than host cores one soft-locked a guest for good), and the
// user's extra arguments last so they can override. The boot is not
// quiet: its log costs no measurable time under TCG (about 350 lines, a
// 2.4 s boot either way), and a guest stuck in its boot then shows in its
// error's last console lines where it is stuck.
func kernelCmdline(extra string) string {
	parts := []string{"console=ttyS0", "panic=-1", "rdinit=/init", "no_timer_check", "cryptomgr.notests"}
	if extra = strings.TrimSpace(extra); extra != "" {
		parts = append(parts, extra)
	}
	return strings.Join(parts, " ")
}
