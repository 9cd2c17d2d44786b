package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
)

// headless runs chromium on page with a fresh profile (removed after)
// and the flags this sandbox-less, offline host needs, plus extra; it
// returns stdout and stderr.
func headless(t *testing.T, chromium, page string, extra ...string) (string, string) {
	t.Helper()
	profile, err := os.MkdirTemp("", "ktstar-chromium")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"}, extra...)
	cmd := exec.Command(chromium, append(args, "file://"+page)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
	}
	return out.String(), errb.String()
}

// TestReportInChromium writes the report of a fixture result against a
// baseline through the real binary and opens it in headless Chromium:
// the DOM has an svg per plot of every group and the summary's rows, the
// console logs nothing (an error, or a refused load under the page's
// no-network policy, would be logged there), and the screenshot is not
// blank.
func TestReportInChromium(t *testing.T) {
	chromium := testenv.NeedChromium(t) // .ci/run installs Debian's chromium
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	_, errs, code := ktstar(t, "", "report", writeSynthetic(t, 2, 24_000, true), writeSynthetic(t, 1, 20_000, true), "-o", page)
	if code != 0 {
		t.Fatalf("ktstar report: exit %d: %s", code, errs)
	}
	dom, logs := headless(t, chromium, page, "--dump-dom")
	sections := regexp.MustCompile(`(?s)<section class="group" data-label="([^"]+)">(.*?)</section>`).FindAllStringSubmatch(dom, -1)
	if len(sections) != 2 {
		t.Fatalf("%d group sections in the DOM, want 2:\n%.2000s", len(sections), dom)
	}
	for _, s := range sections {
		if n := strings.Count(s[2], "<svg"); n != 4 {
			t.Errorf("group %s: %d svg elements in the DOM, want 4", s[1], n)
		}
	}
	if rows := regexp.MustCompile(`<tr class="row"><td>(web|db)</td>`).FindAllString(dom, -1); len(rows) != 2 {
		t.Errorf("summary rows in the DOM: %q, want web and db", rows)
	}
	if strings.Contains(logs, "CONSOLE") {
		t.Errorf("console messages:\n%s", logs)
	}

	shot := filepath.Join(dir, "shot.png")
	headless(t, chromium, page, "--screenshot="+shot, "--window-size=1280,2400", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if ink, colours := inked(img); ink < 0.01 || colours < 8 {
		t.Errorf("screenshot looks blank: %.2f%% of pixels inked, %d colours", ink*100, colours)
	}
}

// inked returns the share of pixels that are not white and the number
// of distinct colours.
func inked(img image.Image) (float64, int) {
	b := img.Bounds()
	seen := map[[3]uint32]bool{}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), len(seen)
}
