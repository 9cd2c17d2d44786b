package workload

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
)

// netnsEnv names the test that a re-exec of this binary runs inside a
// private network namespace (inPrivateNetns).
const netnsEnv = "KTSTAR_TEST_NETNS"

// inPrivateNetns runs the calling test again in a child process in a
// network namespace of its own (unshare --net; wrap, if given, runs
// between the two, e.g. setpriv), relays its output and outcome, and
// returns false; inside that child it returns true, and the test does its
// work there. Every interface the test makes lives in that namespace and
// goes with it when the child exits, however it ends; no interface of the
// host is seen or touched.
func inPrivateNetns(t *testing.T, wrap ...string) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		return true
	}
	testenv.NeedRoot(t) // network namespaces and veth pairs
	for _, tool := range append([]string{"unshare", "ip"}, wrap[:min(len(wrap), 1)]...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux, iproute2): %v", tool, err)
		}
	}
	args := append(append([]string{"--net", "--"}, wrap...), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a private network namespace (unshare %s):\n%s", strings.Join(args[:len(args)-4], " "), out)
	switch {
	case err != nil:
		t.Fatalf("the test failed in its network namespace: %v", err)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skip("skipped in its network namespace (above)")
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatal("the test did not run in its network namespace")
	}
	return false
}

// vethPair makes the veth pair a, b in the calling process's (private)
// network namespace, with IPv6 off so that the kernel sends nothing of
// its own on them, and b up, as a peer that counts what arrives.
func vethPair(t *testing.T, a, b string) {
	t.Helper()
	for _, f := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"} {
		os.WriteFile(f, []byte("1"), 0) // absent without IPv6: then nothing is sent either
	}
	for _, args := range [][]string{{"link", "add", a, "type", "veth", "peer", "name", b}, {"link", "set", b, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}

// netDev reads an interface's counters from /proc/net/dev, which shows
// the reading process's network namespace (sysfs would show the host's).
func netDev(t *testing.T, name string) (rxPackets, txDropped uint64) {
	t.Helper()
	f, err := os.Open("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ifname, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(ifname) != name {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 12 {
			t.Fatalf("/proc/net/dev: short line for %s: %q", name, sc.Text())
		}
		rx, err1 := strconv.ParseUint(fields[1], 10, 64)
		drop, err2 := strconv.ParseUint(fields[11], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/net/dev: %q: %v %v", sc.Text(), err1, err2)
		}
		return rx, drop
	}
	t.Fatalf("/proc/net/dev has no interface %s", name)
	return 0, 0
}

// TestNetTraffic sends on one end of a veth pair in a private network
// namespace and counts on the other: the peer's RX packet counter rises
// by the frames sent (less any the sender's end dropped). The sending end
// starts down: without bring_up the spawn is refused and the interface
// stays down; with it, the worker brings it up.
func TestNetTraffic(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	vethPair(t, "ktv0", "ktv1")
	work := func(up bool) Work {
		return MustWork("NetTraffic", map[string]any{"interface": "ktv0", "bring_up": up})
	}
	if h, err := Spawn(Config{Workers: 1, Work: work(false)}); err == nil {
		h.Close()
		t.Fatal("spawned on a down interface without bring_up")
	} else if !strings.Contains(err.Error(), `interface = "ktv0" is down: bring it up, or pass bring_up = True`) {
		t.Fatalf("down interface: %v", err)
	}
	if out, _ := exec.Command("ip", "-br", "link", "show", "ktv0").CombinedOutput(); !strings.Contains(string(out), "DOWN") {
		t.Fatalf("a refused spawn changed the interface's state: %s", out)
	}
	if h, err := Spawn(Config{Workers: 1, Work: MustWork("NetTraffic", map[string]any{"interface": "ktv9"})}); err == nil {
		h.Close()
		t.Fatal("spawned on a missing interface")
	} else if !strings.Contains(err.Error(), `interface = "ktv9": not found in this network namespace`) {
		t.Fatalf("missing interface: %v", err)
	}
	rx0, drop0 := netDev(t, "ktv1")
	_, txDrop0 := netDev(t, "ktv0")
	r := runFor(t, Config{Work: work(true)}, 300*time.Millisecond)[0]
	rx1, drop1 := netDev(t, "ktv1")
	_, txDrop1 := netDev(t, "ktv0")
	sent := r.Counters["frames_sent"]
	t.Logf("%d frames in %v: %.0f frames/s; peer RX +%d, dropped by the sender's end %d, by the peer %d",
		sent, time.Duration(r.WallTimeNs), float64(sent)/(float64(r.WallTimeNs)/1e9), rx1-rx0, txDrop1-txDrop0, drop1-drop0)
	if sent == 0 || r.WorkUnits != sent || r.Counters["send_errors"] != 0 || r.LoopAllocs != 0 {
		t.Errorf("counters %v, work_units %d, loop allocations %d: want frames sent, one unit each, no errors, no allocations", r.Counters, r.WorkUnits, r.LoopAllocs)
	}
	if got := rx1 - rx0 + txDrop1 - txDrop0; got != sent {
		t.Errorf("peer received %d and the sender's end dropped %d: %d frames, want the %d sent", rx1-rx0, txDrop1-txDrop0, got, sent)
	}
	// Paced: a sleep of interval_us after each frame, so never more than
	// one frame per interval of the loop's wall time (load only slows it).
	paced := MustWork("NetTraffic", map[string]any{"interface": "ktv0", "interval_us": 1000, "frame_bytes": 1514})
	p := runFor(t, Config{Work: paced}, 100*time.Millisecond)[0]
	if n, most := p.Counters["frames_sent"], p.WallTimeNs/uint64(time.Millisecond)+1; n == 0 || n > most {
		t.Errorf("interval_us = 1000: %d frames in %v, want 1..%d", n, time.Duration(p.WallTimeNs), most)
	}
}

// TestNetTrafficNeedsNetRaw runs without CAP_NET_RAW (dropped from the
// bounding set, so neither the test nor its workers have it): the spawn
// is refused with the reason.
func TestNetTrafficNeedsNetRaw(t *testing.T) {
	if !inPrivateNetns(t, "setpriv", "--bounding-set=-net_raw") {
		return
	}
	vethPair(t, "ktv0", "ktv1")
	h, err := Spawn(Config{Workers: 1, Work: MustWork("NetTraffic", map[string]any{"interface": "ktv0", "bring_up": true})})
	if err == nil {
		h.Close()
		t.Fatal("spawned without CAP_NET_RAW")
	}
	if !strings.Contains(err.Error(), "an AF_PACKET socket needs CAP_NET_RAW, which this process lacks") {
		t.Errorf("error %q: want the CAP_NET_RAW reason", err)
	}
}

func TestNetTrafficRefusals(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{nil, `net_traffic: interface = "": name the interface to send on (ktstar never picks one`},
		{map[string]any{"interface": "lo"}, `net_traffic: interface = "lo": the loopback device has no link to load`},
		{map[string]any{"interface": "ktv0", "frame_bytes": 59}, "net_traffic: frame_bytes = 59 is out of range (allowed: 60..1514)"},
	} {
		_, err := NewWork("NetTraffic", tc.params)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("net_traffic(%v): %v, want %s", tc.params, err, tc.want)
		}
	}
}
