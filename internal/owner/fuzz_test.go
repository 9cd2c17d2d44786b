package owner

import "testing"

// FuzzParse: Parse never panics, and what it accepts prints back to the
// same ID.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"7a211340.4026531836.2158.98765.5f3a9c01", "", "a.b.c.d.e", "7a211340.1.0.1.5f3a9c01", "7a211340.1.-1.1.5f3a9c01", "7A211340.1.1.1.5F3A9C01"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if back, err := Parse(id.String()); err != nil || back != id {
			t.Fatalf("Parse(%q) = %+v, whose String %q parses to %+v, %v", s, id, id.String(), back, err)
		}
	})
}
