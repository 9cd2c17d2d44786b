package vm

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// decodeAll runs every line of stream through parseFrame into a frameReader.
func decodeAll(stream string) (*frameReader, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	r := &frameReader{stdout: &out, stderr: &errb}
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fr, ok, err := parseFrame(sc.Text())
		switch {
		case err != nil:
			r.fail(err)
		case ok:
			r.add(fr)
		}
	}
	return r, &out, &errb
}

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 1000) // several chunks
	var wire bytes.Buffer
	fw := &frameWriter{w: &wire}
	for _, step := range []struct {
		kind string
		p    []byte
	}{
		{kindStart, nil},
		{kindOut, []byte("hello\n")},
		{kindErr, []byte("warn\n")},
		{kindOut, big},
		{kindJSON, nil},
		{kindJSON, []byte(`{"ok":true}`)},
		{kindExit, []byte(`{"code":1}`)},
	} {
		if err := fw.write(step.kind, step.p); err != nil {
			t.Fatal(err)
		}
	}
	// Console noise between and in front of frames must not matter.
	lines := strings.SplitAfter(wire.String(), "\n")
	noisy := "[    1.23] random: crng init done\n" + strings.Join(lines[:2], "[    1.30] virtio_blk virtio1: [vda] 2048 sectors\n") +
		"[    1.31] prefix noise " + strings.Join(lines[2:], "")
	r, out, errb := decodeAll(noisy)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := "hello\n" + string(big); out.String() != want {
		t.Errorf("stdout: %d bytes, want %d", out.Len(), len(want))
	}
	if errb.String() != "warn\n" {
		t.Errorf("stderr %q", errb.String())
	}
	if !r.sawJSON || r.json.String() != `{"ok":true}` {
		t.Errorf("json %v %q", r.sawJSON, r.json.String())
	}
	if r.exit == nil || r.exit.Code != 1 {
		t.Errorf("exit %+v", r.exit)
	}
}

func TestFrameDamage(t *testing.T) {
	var wire bytes.Buffer
	fw := &frameWriter{w: &wire}
	for _, s := range []string{"first line\n", "second line\n", "third line\n"} {
		if err := fw.write(kindOut, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.SplitAfter(wire.String(), "\n")
	tests := []struct {
		name, stream, want string
	}{
		{"lost", lines[0] + lines[2], "frame 2 arrived, expected 1"},
		{"flipped", lines[0] + flip(lines[1]) + lines[2], "checksum mismatch"},
		{"split by noise", lines[0] + lines[1][:30] + "[ 2.0] kernel says hi\n" + lines[1][30:] + lines[2], "frame"},
		{"bad field", "@@ktstar1 out x 1 00000000 QQ==\n", "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := decodeAll(tt.stream)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", r.err, tt.want)
			}
		})
	}
}

// flip changes the first payload character of a frame line, as line noise
// would.
func flip(line string) string {
	i := strings.LastIndexByte(line, ' ') + 1
	c := byte('A')
	if line[i] == 'A' {
		c = 'B'
	}
	return line[:i] + string(c) + line[i+1:]
}

// TestForwardSignals is the guest's side of a forwarded signal: the
// signal in a control frame on the port reaches a real child; console
// noise and frames that are not a valid signal do not.
func TestForwardSignals(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	var wire bytes.Buffer
	fw := frameWriter{w: &wire}
	wire.WriteString("[ 1.0] kernel noise\n")
	for _, f := range []struct{ kind, payload string }{
		{kindSignal, "99"}, {kindSignal, "TERM"}, {kindOut, "15"}, {kindSignal, "15"},
	} {
		if err := fw.write(f.kind, []byte(f.payload)); err != nil {
			t.Fatal(err)
		}
	}
	g := &guestInit{start: time.Now(), ctl: &wire}
	var forwarded atomic.Int32
	g.forwardSignals(child.Process, &forwarded) // returns at the end of wire
	child.Wait()
	ws, _ := child.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM || forwarded.Load() != int32(syscall.SIGTERM) {
		t.Fatalf("child ended %v, forwarded %d; want killed by SIGTERM, forwarded 15", child.ProcessState, forwarded.Load())
	}
}
