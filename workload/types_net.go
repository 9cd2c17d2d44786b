package workload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// netTypes holds NetTraffic, which puts the transmit path and the
// receiving side's softirq on CPUs by sending raw Ethernet frames.
var netTypes = []Type{{
	Name: "NetTraffic", Ctor: "net_traffic",
	Doc: "Send raw Ethernet frames (AF_PACKET, ethertype 0x88B5, to the interface's own MAC) on the named interface, back to back or one per interval_us; each frame sent is a work unit.",
	Params: []Param{
		{Name: "interface", Kind: KindString, Default: "", Doc: "the interface to send on, named explicitly (a veth or dummy made for the test; never chosen by ktstar, never lo)"},
		// Bounded below the stop deadline, since each sleep is one call.
		{Name: "interval_us", Kind: KindInt, Default: int64(0), Min: 0, Max: maxSleepMs * 1000, Doc: "sleep between frames, µs (0: back to back)"},
		{Name: "frame_bytes", Kind: KindInt, Default: int64(60), Min: 60, Max: 1514, Doc: "frame length with the Ethernet header, without the FCS"},
		{Name: "bring_up", Kind: KindBool, Default: false, Doc: "set the interface up (needs CAP_NET_ADMIN) if it is down; otherwise a down interface fails the spawn and its state is never touched"},
	},
	// An interface of a test's own network namespace (TestNetTraffic).
	Example: map[string]any{"interface": "ktv0"},
	Validate: func(w Work) error {
		switch name := w.Text("interface"); name {
		case "":
			return errors.New(`interface = "": name the interface to send on (ktstar never picks one: frames on a real NIC leave the machine); make a veth or dummy for the test`)
		case "lo":
			return errors.New(`interface = "lo": the loopback device has no link to load (no NIC queue, no softirq on a peer); use a veth pair or a dummy interface`)
		}
		return nil
	},
	Preflight: func(w Work) error {
		if _, err := netInterface(w); err != nil {
			return err
		}
		fd, err := packetSocket()
		if err != nil {
			return err
		}
		unix.Close(fd)
		return nil
	},
	New: newNetTraffic,
}}

// netEtherType is IEEE 802 local experimental ethertype 1, as ktstr uses.
const netEtherType = 0x88B5

type netTraffic struct {
	w        *Worker
	fd       int
	frame    []byte
	interval time.Duration
}

// netInterface finds the named interface and checks that frames can go
// out on it: an Ethernet interface that is up, or that bring_up allows to
// be set up.
func netInterface(w Work) (*net.Interface, error) {
	name := w.Text("interface")
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface = %q: not found in this network namespace: %w", name, err)
	}
	if len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface = %q: not an Ethernet interface (hardware address %q)", name, ifc.HardwareAddr)
	}
	if ifc.Flags&net.FlagUp == 0 && !w.Bool("bring_up") {
		return nil, fmt.Errorf("interface = %q is down: bring it up, or pass bring_up = True to let the worker do it", name)
	}
	return ifc, nil
}

// packetSocket opens the raw AF_PACKET socket frames go out on.
func packetSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if errors.Is(err, unix.EPERM) {
		return -1, fmt.Errorf("an AF_PACKET socket needs CAP_NET_RAW, which this process lacks: %w", err)
	} else if err != nil {
		return -1, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	return fd, nil
}

func newNetTraffic(w *Worker) (Body, error) {
	ifc, err := netInterface(w.work)
	if err != nil {
		return nil, err
	}
	name := ifc.Name
	fd, err := packetSocket()
	if err != nil {
		return nil, err
	}
	b := &netTraffic{w: w, fd: fd, interval: time.Duration(w.work.Int("interval_us")) * time.Microsecond}
	if ifc.Flags&net.FlagUp == 0 {
		if err := setUp(fd, name); err != nil {
			b.Close()
			return nil, fmt.Errorf("interface = %q: bring_up: %w", name, err)
		}
	}
	// Bound to our own ethertype, the socket receives nothing but frames of
	// that type arriving on the interface (none: ours leave it).
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(netEtherType), Ifindex: ifc.Index}); err != nil {
		b.Close()
		return nil, fmt.Errorf("interface = %q: bind: %w", name, err)
	}
	// A full queue blocks a send for at most this long, so stop is seen.
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		b.Close()
		return nil, fmt.Errorf("setsockopt(SO_SNDTIMEO): %w", err)
	}
	b.frame = make([]byte, w.work.Int("frame_bytes"))
	copy(b.frame[0:6], ifc.HardwareAddr)
	copy(b.frame[6:12], ifc.HardwareAddr)
	b.frame[12], b.frame[13] = netEtherType>>8, netEtherType&0xff
	copy(b.frame[14:], "KTST")
	w.Count("frames_sent", 0)
	w.Count("send_errors", 0)
	return b, nil
}

// setUp sets IFF_UP on the interface, keeping its other flags.
func setUp(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS (needs CAP_NET_ADMIN): %w", err)
	}
	return nil
}

// htons converts to network byte order, as sockaddr_ll's protocol wants.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}

func (b *netTraffic) Step() bool {
	w := b.w
	if n, err := unix.Write(b.fd, b.frame); err == nil && n > 0 {
		w.Count("frames_sent", 1)
		w.AddUnits(1)
	} else {
		w.Count("send_errors", 1)
	}
	if b.interval > 0 && !w.Stopped() {
		nanosleep(b.interval)
	}
	w.ResetGap()
	return true
}

// Close closes the packet socket.
func (b *netTraffic) Close() {
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
}
