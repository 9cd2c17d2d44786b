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

// FuzzParseStat: a /proc/PID/stat line of any shape never panics the
// parser.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 rest\n"))
	f.Add([]byte("1 (x) S 1 2\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStat(b)
	})
}
