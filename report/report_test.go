package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/compare"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/result/resulttest"
)

func fixture(t testing.TB, seed uint64, latency float64, labels ...string) *result.Doc {
	t.Helper()
	var groups []resulttest.Group
	for _, l := range labels {
		groups = append(groups, resulttest.Group{Label: l, LatencyNs: latency, WorkRate: 1e6})
	}
	return resulttest.Read(t, resulttest.Make(resulttest.Spec{Reps: 3, Workers: 4, Samples: 1000, Seed: seed, Timeline: true, Groups: groups}), true)
}

// TestReportSelfContained renders a result against a baseline: one
// section per label with four inline SVG plots each (both sides drawn),
// the summary and check tables, the comparison, and nothing that loads
// from elsewhere or runs.
func TestReportSelfContained(t *testing.T) {
	doc := fixture(t, 1, 20_000, "web", "db", "batch")
	base := fixture(t, 2, 10_000, "web", "db")
	cmp := compare.Compare(base, doc, nil)
	var b bytes.Buffer
	if err := Write(&b, Input{Path: "new.json", Doc: doc, BasePath: "base.json", Base: base, Compare: &cmp}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	sections := regexp.MustCompile(`(?s)<section class="group" data-label="([^"]+)">(.*?)</section>`).FindAllStringSubmatch(html, -1)
	var labels []string
	for _, s := range sections {
		labels = append(labels, s[1])
		if n := strings.Count(s[2], "<svg"); n != 4 {
			t.Errorf("group %s: %d plots, want 4", s[1], n)
		}
		// Both sides' legends where the baseline has the group.
		if s[1] != "batch" && !strings.Contains(s[2], "baseline") {
			t.Errorf("group %s: no baseline drawn", s[1])
		}
	}
	if strings.Join(labels, " ") != "web db batch" {
		t.Errorf("sections %q, want web db batch", labels)
	}
	if !strings.Contains(html, "(not in the baseline)") {
		t.Error("batch is not marked as missing from the baseline")
	}
	summaryRows := regexp.MustCompile(`<tr class="row"><td>(\w+)</td>`).FindAllStringSubmatch(html, -1)
	if len(summaryRows) != 3 {
		t.Errorf("%d summary rows, want 3", len(summaryRows))
	}
	if n := strings.Count(html, "checks.evaluate at synthetic.star:9:15"); n != 3*3*3 {
		t.Errorf("%d check rows, want 27 (3 checks × 3 groups × 3 repetitions)", n)
	}
	if !strings.Contains(html, `<table id="compare">`) || !strings.Contains(html, "added") {
		t.Error("no comparison table, or batch not listed as added")
	}
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("the page holds %q: it must load nothing", bad)
		}
	}
	if strings.Contains(html, "<?xml") {
		t.Error("an XML prelude inside HTML")
	}
}

// BenchmarkReportLarge renders the report of a result of 64 workers ×
// 100,000 samples × 5 repetitions and logs its size (goal under 5 MB).
func BenchmarkReportLarge(b *testing.B) {
	d := resulttest.Read(b, resulttest.Make(resulttest.Spec{Reps: 5, Workers: 64, Samples: 100_000, Seed: 1, Timeline: true,
		Groups: []resulttest.Group{{Label: "web", LatencyNs: 20_000, WorkRate: 1e6}}}), true)
	var out bytes.Buffer
	b.ResetTimer()
	for b.Loop() {
		out.Reset()
		if err := Write(&out, Input{Path: "large.json", Doc: d}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.Len())/1e6, "MB/report")
}

// TestReportNoSamples renders a result whose group took no latency
// samples (a type without wake samples): no latency plots, no panic from
// a log axis with nothing on it.
func TestReportNoSamples(t *testing.T) {
	doc := resulttest.Read(t, resulttest.Make(resulttest.Spec{Reps: 1, Workers: 2, Samples: 0, Seed: 3, Timeline: true,
		Groups: []resulttest.Group{{Label: "spin", WorkRate: 1e6}}}), true)
	var b bytes.Buffer
	if err := Write(&b, Input{Path: "spin.json", Doc: doc}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if !strings.Contains(html, `data-label="spin"`) {
		t.Fatal("no section for group spin")
	}
	if n := strings.Count(html, "samples: CDF"); n != 0 {
		t.Errorf("%d latency CDF plots for a group without samples, want 0", n)
	}
	if n := strings.Count(html, "throughput over time"); n != 1 {
		t.Errorf("%d throughput plots, want 1", n)
	}
}
