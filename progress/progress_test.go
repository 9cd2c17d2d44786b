package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/ptytest"
	"github.com/ktstar/ktstar/internal/testenv"
)

func TestDrawsAndErasesOnATerminal(t *testing.T) {
	master, slave := ptytest.Open(t)
	if !Enabled(slave, false) {
		t.Fatal("a pty slave is a terminal")
	}
	var n atomic.Uint64
	sources := []Source{
		{Name: "group 0", Snapshot: func() []uint64 { v := n.Add(1000); return []uint64{v, v} }},
		{Name: "group 1", Snapshot: func() []uint64 { return []uint64{5} }},
	}
	const refresh = 20 * time.Millisecond
	d := Start(slave, 2*time.Second, sources, refresh)
	// Each frame reads group 0's snapshot once: wait for three frames, far
	// more patiently than the refresh needs.
	testenv.WaitProgress(t, func() []uint64 { return []uint64{n.Load() / 1000} }, 3, 0, 500*refresh)
	d.Stop()
	d.Stop()
	slave.Close()

	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		k, err := master.Read(buf)
		out.Write(buf[:k])
		if err != nil || k == 0 {
			break
		}
		if bytes.HasSuffix(out.Bytes(), []byte("\x1b[J")) {
			break
		}
	}
	s := out.String()
	frames := strings.Count(s, "/ 2s")
	if frames < 2 {
		t.Fatalf("want several redraws, got %d in %q", frames, s)
	}
	// Every redraw after the first moves up over the 3 lines it drew.
	if ups := strings.Count(s, "\x1b[3A\r"); ups != frames {
		t.Errorf("%d frames but %d cursor-ups in %q", frames, ups, s)
	}
	if strings.Count(s, "group 0: 2 workers") != frames || strings.Count(s, "group 1: 1 workers, 0 iterations/s") != frames {
		t.Errorf("one line per group per frame expected: %q", s)
	}
	if !strings.HasSuffix(s, "\x1b[3A\r\x1b[J") {
		t.Errorf("the last thing written must erase the lines: %q", s[max(0, len(s)-40):])
	}
}

func TestNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if Enabled(w, false) {
		t.Error("a pipe is not a terminal")
	}
	if !Enabled(w, true) {
		t.Error("--progress forces it")
	}
	// Stopped before the first tick, it writes nothing at all.
	d := Start(w, time.Second, []Source{{Name: "g", Snapshot: func() []uint64 { return nil }}}, time.Hour)
	d.Stop()
	w.Close()
	if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Errorf("wrote %q", b)
	}
}

// syncBuffer is a bytes.Buffer safe for the display goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLiveWriterErasesAndRedraws(t *testing.T) {
	var screen syncBuffer
	live := NewLive(&screen, 10*time.Millisecond)
	print := live.Writer(&screen)
	stop := live.Show(time.Second, []Source{{Name: "g", Snapshot: func() []uint64 { return []uint64{1} }}})
	for !strings.Contains(screen.String(), "g: 1 workers") {
		time.Sleep(5 * time.Millisecond)
	}
	// A nested hold keeps the outer display.
	live.Show(time.Second, nil)()
	fmt.Fprintln(print, "hello")
	stop()
	s := screen.String()
	i := strings.Index(s, "hello\n")
	if i < 0 {
		t.Fatalf("print lost: %q", s)
	}
	before, after := s[:i], s[i:]
	if !strings.HasSuffix(before, "\x1b[2A\r\x1b[J") {
		t.Errorf("the lines are not erased before the print: %q", before)
	}
	if !strings.HasPrefix(after, "hello\n\x1b[2K") || !strings.HasSuffix(after, "\x1b[2A\r\x1b[J") {
		t.Errorf("want a redraw after the print and a final erase: %q", after)
	}
	// Once the hold is over, writes pass straight through.
	fmt.Fprintln(print, "bye")
	if got := screen.String(); !strings.HasSuffix(got, "\x1b[J"+"bye\n") {
		t.Errorf("after the hold: %q", got[max(0, len(got)-20):])
	}
	var nilLive *Live
	if w := nilLive.Writer(&screen); w != io.Writer(&screen) {
		t.Error("a nil Live must return the writer as is")
	}
	nilLive.Show(time.Second, nil)()
}
