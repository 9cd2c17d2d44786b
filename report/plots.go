package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ktstar/ktstar/hist"
)

// Plot size: two plots side by side fit a laptop screen.
const (
	plotW = 11 * vg.Centimeter
	plotH = 7 * vg.Centimeter
)

// side colours: the result itself, and its baseline.
var (
	colNew  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colBase = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// series is one side's data of one plot.
type series struct {
	name  string
	color color.Color
	dash  bool
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// svg renders p as an SVG element ready to inline in HTML: without the
// XML prelude, which only a standalone file may carry.
func svg(p *plot.Plot) (string, error) {
	wt, err := p.WriterTo(plotW, plotH, "svg")
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	out := b.Bytes()
	if i := bytes.Index(out, []byte("<svg")); i >= 0 {
		out = out[i:]
	}
	return string(out), nil
}

func addLine(p *plot.Plot, s series, xys plotter.XYs, step bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = s.color
	l.Width = vg.Points(1.2)
	if s.dash {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	}
	if step {
		l.StepStyle = plotter.PostStep
	}
	p.Add(l)
	if s.name != "" {
		p.Legend.Add(s.name, l)
	}
	return nil
}

// plotSub is how many of a histogram's 256 buckets per power of two one
// plotted bucket joins: 16 per power of two stay smooth over a few
// thousand samples.
const plotSub = 16

// coarse joins h's non-empty buckets plotSub at a time (by bucket index,
// so a joined bucket never straddles a power of two).
func coarse(h *hist.Hist) []hist.Bucket {
	var out []hist.Bucket
	last := -1
	for _, b := range h.Buckets() {
		k := h.Config().Index(b.Lo) / plotSub
		if k != last {
			out = append(out, hist.Bucket{Lo: b.Lo})
			last = k
		}
		o := &out[len(out)-1]
		o.Hi, o.Count = b.Hi, o.Count+b.Count
	}
	return out
}

// latencyPlots draws a group's latency distribution of one sample kind:
// the share of samples per µs in each bucket, and the CDF, on a log time
// axis. With no samples on any side it draws nothing (a log axis cannot
// be empty) and returns "".
func latencyPlots(kind string, hists []*hist.Hist, sides []series) (dist, cdf string, err error) {
	if !slices.ContainsFunc(hists, func(h *hist.Hist) bool { return h != nil && h.Count() > 0 }) {
		return "", "", nil
	}
	if kind == "" {
		kind = "latency"
	}
	ph := newPlot(kind+" samples: distribution", "µs (log)", "share of samples per µs")
	pc := newPlot(kind+" samples: CDF", "µs (log)", "fraction ≤ x")
	for _, p := range []*plot.Plot{ph, pc} {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	pc.Y.Min, pc.Y.Max = 0, 1
	for i, h := range hists {
		if h == nil || h.Count() == 0 {
			continue
		}
		total := float64(h.Count())
		var d, c plotter.XYs
		var run uint64
		for _, b := range coarse(h) {
			lo := max(float64(b.Lo), 1) / 1e3 // 0 ns drawn at 1 ns on a log axis
			run += b.Count
			d = append(d, plotter.XY{X: lo, Y: float64(b.Count) / total / (float64(b.Hi-b.Lo+1) / 1e3)})
			c = append(c, plotter.XY{X: lo, Y: float64(run) / total})
		}
		if err := addLine(ph, sides[i], d, true); err != nil {
			return "", "", err
		}
		if err := addLine(pc, sides[i], c, true); err != nil {
			return "", "", err
		}
	}
	if dist, err = svg(ph); err != nil {
		return "", "", err
	}
	cdf, err = svg(pc)
	return dist, cdf, err
}

// throughputPlot draws a group's iterations per second over time, summed
// over its workers, one line per repetition and side.
func throughputPlot(timelines [][]*timelinePart, sides []series) (string, error) {
	p := newPlot("throughput over time", "time since start (s)", "iterations/s (all workers)")
	for i, parts := range timelines {
		for k, tp := range parts {
			s := sides[i]
			if k > 0 {
				s.name = "" // one legend entry per side
			}
			if err := addLine(p, s, tp.rate(), false); err != nil {
				return "", err
			}
		}
	}
	return svg(p)
}

// timelinePart is one run's timeline, for one group's workers.
type timelinePart struct {
	tNs     []int64
	workers [][]uint64
}

// rate returns the summed iteration rate between consecutive samples.
func (t *timelinePart) rate() plotter.XYs {
	var out plotter.XYs
	var prevT int64
	var prev uint64
	for i, at := range t.tNs {
		var sum uint64
		for _, w := range t.workers {
			if i < len(w) {
				sum += w[i]
			}
		}
		if dt := at - prevT; dt > 0 && sum >= prev {
			out = append(out, plotter.XY{X: float64(at) / 1e9, Y: float64(sum-prev) / (float64(dt) / 1e9)})
		}
		prevT, prev = at, sum
	}
	return out
}

// workerPoint is one worker's CPU and run delay, in % of its wall time.
type workerPoint struct{ cpu, delay float64 }

// workersPlot draws every worker's CPU % and run delay %, worker by
// worker (repetitions one after another).
func workersPlot(points [][]workerPoint, sides []series) (string, error) {
	p := newPlot("CPU and run delay per worker", "worker", "% of wall time")
	p.Y.Min = 0
	p.Legend.Top = false // run delay is usually low, CPU high: the legend sits between
	for i, pts := range points {
		var cpu, delay plotter.XYs
		for w, pt := range pts {
			cpu = append(cpu, plotter.XY{X: float64(w), Y: pt.cpu})
			delay = append(delay, plotter.XY{X: float64(w), Y: pt.delay})
		}
		for j, xys := range []plotter.XYs{cpu, delay} {
			if len(xys) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return "", err
			}
			sc.GlyphStyle.Color = sides[i].color
			sc.GlyphStyle.Radius = vg.Points(2)
			sc.GlyphStyle.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}}[j]
			if j == 1 {
				sc.GlyphStyle.Color = blend(sides[i].color)
			}
			p.Add(sc)
			p.Legend.Add(fmt.Sprintf("%s %s", sides[i].name, []string{"cpu %", "run delay %"}[j]), sc)
		}
	}
	if p.Y.Max < 1 || math.IsInf(p.Y.Max, 0) {
		p.Y.Max = 1
	}
	return svg(p)
}

// blend lightens c for a side's second series.
func blend(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8((v>>8)/2 + 0x60) }
	return color.RGBA{R: mix(r), G: mix(g), B: mix(b), A: 0xff}
}
