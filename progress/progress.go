// Package progress shows, on a terminal, how far a run has got while it
// holds: elapsed against total time, and for each group the current
// iteration rate read from the workers' shared counters. It redraws the
// same lines a few times a second and erases them when it stops, so
// nothing of it is left in the scrollback, in --json output or in what the
// script prints.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Source is one group whose progress is shown.
type Source struct {
	Name     string
	Snapshot func() []uint64 // per-worker iteration counts
}

// Enabled reports whether progress should be drawn on f: always when
// forced (--progress), otherwise only when f is a terminal.
func Enabled(f *os.File, force bool) bool {
	return force || term.IsTerminal(int(f.Fd()))
}

// Display draws progress lines until Stop.
type Display struct {
	out     io.Writer
	total   time.Duration
	sources []Source
	start   time.Time
	last    []uint64
	lastAt  time.Time

	mu    sync.Mutex // guards the screen: lines and frame
	lines int        // lines currently on screen
	frame string     // the lines drawn last, to redraw after an Interrupt

	stop chan struct{}
	done chan struct{}
	once sync.Once
	// plain prints one new line per interval and never moves the cursor,
	// for stderr that is a file or a pipe (like fio's --status-interval).
	plain bool
}

// Start begins drawing every interval. total may be 0 when unknown.
func Start(out io.Writer, total time.Duration, sources []Source, interval time.Duration) *Display {
	return start(out, total, sources, interval, false)
}

// StartPlain begins printing one plain line every interval: no escape
// codes, nothing erased.
func StartPlain(out io.Writer, total time.Duration, sources []Source, interval time.Duration) *Display {
	return start(out, total, sources, interval, true)
}

func start(out io.Writer, total time.Duration, sources []Source, interval time.Duration, plain bool) *Display {
	d := &Display{out: out, total: total, sources: sources, start: time.Now(), plain: plain,
		stop: make(chan struct{}), done: make(chan struct{}), last: make([]uint64, len(sources))}
	d.lastAt = d.start
	for i, s := range sources {
		d.last[i] = sum(s.Snapshot())
	}
	go d.loop(interval)
	return d
}

func (d *Display) loop(interval time.Duration) {
	defer close(d.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			d.mu.Lock()
			d.erase()
			d.mu.Unlock()
			return
		case now := <-t.C:
			d.draw(now)
		}
	}
}

// Stop erases the lines and returns once they are gone. It is idempotent.
func (d *Display) Stop() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

// Interrupt erases the lines, runs f (which writes to the same terminal,
// e.g. a script's print) and draws the lines again below what f wrote.
func (d *Display) Interrupt(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	shown := d.lines
	d.erase()
	f()
	if shown > 0 {
		io.WriteString(d.out, d.frame)
		d.lines = shown
	}
}

func (d *Display) draw(now time.Time) {
	if d.plain {
		d.line(now)
		return
	}
	var b strings.Builder
	elapsed := now.Sub(d.start).Truncate(100 * time.Millisecond)
	if d.total > 0 {
		fmt.Fprintf(&b, "\x1b[2K%v / %v\n", elapsed, d.total)
	} else {
		fmt.Fprintf(&b, "\x1b[2K%v\n", elapsed)
	}
	secs := now.Sub(d.lastAt).Seconds()
	for i, s := range d.sources {
		counts := s.Snapshot()
		cur := sum(counts)
		rate := 0.0
		if secs > 0 && cur >= d.last[i] {
			rate = float64(cur-d.last[i]) / secs
		}
		d.last[i] = cur
		fmt.Fprintf(&b, "\x1b[2K  %s: %d workers, %s iterations/s\n", s.Name, len(counts), human(rate))
	}
	d.lastAt = now
	d.mu.Lock()
	defer d.mu.Unlock()
	var up strings.Builder
	d.moveUp(&up)
	d.frame = b.String()
	d.lines = 1 + len(d.sources)
	io.WriteString(d.out, up.String()+d.frame)
}

// line prints the progress of every source on one line of its own.
func (d *Display) line(now time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "progress %v", now.Sub(d.start).Truncate(100*time.Millisecond))
	if d.total > 0 {
		fmt.Fprintf(&b, " / %v", d.total)
	}
	for i, r := range d.rates(now) {
		fmt.Fprintf(&b, "; %s: %s iterations/s", d.sources[i].Name, human(r))
	}
	b.WriteByte('\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	io.WriteString(d.out, b.String())
}

// rates returns each source's iteration rate since the last call.
func (d *Display) rates(now time.Time) []float64 {
	secs := now.Sub(d.lastAt).Seconds()
	out := make([]float64, len(d.sources))
	for i, s := range d.sources {
		cur := sum(s.Snapshot())
		if secs > 0 && cur >= d.last[i] {
			out[i] = float64(cur-d.last[i]) / secs
		}
		d.last[i] = cur
	}
	d.lastAt = now
	return out
}

// moveUp returns the cursor to the first line drawn last time.
func (d *Display) moveUp(b *strings.Builder) {
	if d.lines > 0 {
		fmt.Fprintf(b, "\x1b[%dA\r", d.lines)
	}
}

// erase clears every line drawn and leaves the cursor where drawing
// began. The caller holds d.mu.
func (d *Display) erase() {
	if d.lines == 0 {
		return
	}
	var b strings.Builder
	d.moveUp(&b)
	b.WriteString("\x1b[J")
	io.WriteString(d.out, b.String())
	d.lines = 0
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

func human(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}
