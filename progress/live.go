package progress

import (
	"io"
	"sync"
	"time"
)

// Live is the progress facility of one run: whatever holds (a sleep, a
// scenario step) calls Show for its duration, and everything else the run
// writes to the same terminal goes through Writer, which keeps the lines
// out of the way. A nil *Live shows nothing, so callers need not check
// whether progress is enabled.
type Live struct {
	out      io.Writer
	interval time.Duration
	plain    bool // StartPlain's lines instead of a redrawn block

	mu sync.Mutex
	d  *Display // the display of the hold under way, if any
}

// NewLive returns a facility that draws on out (a terminal) every interval.
func NewLive(out io.Writer, interval time.Duration) *Live {
	return &Live{out: out, interval: interval}
}

// NewPlainLive returns a facility that prints one plain line on out every
// interval, for a file or a pipe.
func NewPlainLive(out io.Writer, interval time.Duration) *Live {
	return &Live{out: out, interval: interval, plain: true}
}

// Show draws progress for a hold of total (0 when unknown) over sources
// until the returned function is called; that call erases the lines. A
// hold inside a hold keeps the outer display.
func (l *Live) Show(total time.Duration, sources []Source) (stop func()) {
	if l == nil {
		return func() {}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.d != nil {
		return func() {}
	}
	d := start(l.out, total, sources, l.interval, l.plain)
	l.d = d
	return func() {
		l.mu.Lock()
		l.d = nil
		l.mu.Unlock()
		d.Stop()
	}
}

// Writer wraps w so that each write first erases the progress lines and
// draws them again afterwards; w is returned as is by a nil Live. The
// engine's print goes through it, so a script's output and the progress
// lines never mix.
func (l *Live) Writer(w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &guarded{l: l, w: w}
}

type guarded struct {
	l *Live
	w io.Writer
}

func (g *guarded) Write(p []byte) (n int, err error) {
	g.l.mu.Lock()
	d := g.l.d
	g.l.mu.Unlock()
	if d == nil || g.l.plain {
		return g.w.Write(p)
	}
	d.Interrupt(func() { n, err = g.w.Write(p) })
	return n, err
}
