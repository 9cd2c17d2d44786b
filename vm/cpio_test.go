package vm

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one parsed newc entry, for checking what CPIOWriter wrote.
type cpioEntry struct {
	name         string
	mode, nlink  uint32
	rmaj, rmin   uint32
	data         string
	hdrOff, dOff int
}

// readCPIO parses a newc archive strictly: magic, hex fields, NUL-terminated
// names, 4-byte alignment of headers and data, and a final trailer.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("header at %d not 4-byte aligned", off)
		}
		if off+cpioHdrLen > len(b) || string(b[off:off+6]) != cpioMagic {
			t.Fatalf("bad magic at %d", off)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			f[i] = uint32(v)
		}
		nameLen := int(f[11])
		nameEnd := off + cpioHdrLen + nameLen
		if b[nameEnd-1] != 0 {
			t.Fatalf("name at %d not NUL-terminated", off)
		}
		e := cpioEntry{name: string(b[off+cpioHdrLen : nameEnd-1]), mode: f[1], nlink: f[4], rmaj: f[9], rmin: f[10], hdrOff: off}
		d := (nameEnd + 3) &^ 3
		e.dOff = d
		e.data = string(b[d : d+int(f[6])])
		off = (d + int(f[6]) + 3) &^ 3
		if e.name == cpioTrailer {
			if off != len(b) {
				t.Fatalf("%d bytes after trailer", len(b)-off)
			}
			return out
		}
		out = append(out, e)
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	steps := []error{
		w.Bytes("/init", 0o755, []byte("#!binary")),
		w.CharDev("dev/console", 0o600, 5, 1),
		w.Bytes("a/b/c.star", 0o644, []byte("x")),
		w.Dir("a", 0o700), // already emitted as a parent: no second entry
		w.Bytes("a/b/empty", 0o644, nil),
		w.Close(),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	want := []struct {
		name string
		mode uint32
		data string
	}{
		{"init", modeReg | 0o755, "#!binary"},
		{"dev", modeDir | 0o755, ""},
		{"dev/console", modeChar | 0o600, ""},
		{"a", modeDir | 0o755, ""},
		{"a/b", modeDir | 0o755, ""},
		{"a/b/c.star", modeReg | 0o644, "x"},
		{"a/b/empty", modeReg | 0o644, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d", len(got), got, len(want))
	}
	inos := map[string]bool{}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.mode != w.mode || g.data != w.data {
			t.Errorf("entry %d = {%q %o %q}, want {%q %o %q}", i, g.name, g.mode, g.data, w.name, w.mode, w.data)
		}
		if g.dOff%4 != 0 {
			t.Errorf("%s: data at %d not aligned", g.name, g.dOff)
		}
		ino := string(buf.Bytes()[g.hdrOff+6 : g.hdrOff+14])
		if inos[ino] {
			t.Errorf("%s: inode %s reused", g.name, ino)
		}
		inos[ino] = true
	}
	if c := got[2]; c.rmaj != 5 || c.rmin != 1 {
		t.Errorf("dev/console rdev = %d:%d, want 5:1", c.rmaj, c.rmin)
	}
}

func TestCPIOWriterErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(*CPIOWriter) error
		want string
	}{
		{"dotdot", func(w *CPIOWriter) error { return w.Bytes("../x", 0o644, nil) }, `invalid entry name "../x"`},
		{"root", func(w *CPIOWriter) error { return w.Dir("/", 0o755) }, `invalid entry name "/"`},
		{"trailer", func(w *CPIOWriter) error { return w.Bytes(cpioTrailer, 0o644, nil) }, "invalid entry name"},
		{"short", func(w *CPIOWriter) error { return w.File("f", 0o644, 10, strings.NewReader("abc")) }, "copied 3 of 10 bytes"},
		{"huge", func(w *CPIOWriter) error { return w.File("f", 0o644, 1<<32, strings.NewReader("")) }, "outside the newc range"},
		{"writer", func(w *CPIOWriter) error { return w.Bytes("f", 0o644, make([]byte, 1<<17)) }, "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewCPIOWriter(failWriter{})
			err := tt.do(w)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if cerr := w.Close(); !errors.Is(cerr, err) {
				t.Errorf("Close = %v, want the sticky error %v", cerr, err)
			}
		})
	}
}

// failWriter stands in for a full disk.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
