package cpulist

import (
	"slices"
	"testing"
)

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in, canon string
		want      []int
	}{
		{"", "", nil},
		{"0\n", "0", []int{0}},
		{"0-3,8,10-11", "0-3,8,10-11", []int{0, 1, 2, 3, 8, 10, 11}},
		{"5,1-2", "1-2,5", []int{5, 1, 2}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if f := Format(got); f != tc.canon {
			t.Errorf("Format(%v) = %q, want %q", got, f, tc.canon)
		}
	}
	for _, bad := range []string{"a", "3-1", "1,,2", "-1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", bad)
		}
	}
}
