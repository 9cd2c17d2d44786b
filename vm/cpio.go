package vm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// cpio "newc" (SVR4, no checksum) constants: the only archive format the
// kernel's initramfs unpacker reads.
const (
	cpioMagic   = "070701"
	cpioTrailer = "TRAILER!!!"
	cpioHdrLen  = 110 // magic + 13 eight-digit hex fields

	modeDir  = 0o040000
	modeReg  = 0o100000
	modeChar = 0o020000
)

// CPIOWriter writes a newc cpio archive, the format of a Linux initramfs.
// Names are relative ("init", "dev/console"); parent directories are
// emitted automatically the first time a path below them is written,
// because the kernel's unpacker does not create them. Every entry has
// uid/gid 0 and mtime 0, so equal inputs give byte-identical archives.
// The first error sticks: later calls return it and Close reports it.
type CPIOWriter struct {
	w    *bufio.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

// NewCPIOWriter returns a writer that streams the archive to w. Call Close
// to write the trailer and flush.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: bufio.NewWriterSize(w, 1<<16), dirs: map[string]bool{".": true}}
}

// Dir adds directory name (and any missing parents).
func (c *CPIOWriter) Dir(name string, perm fs.FileMode) error {
	name, err := c.clean(name)
	if err != nil {
		return err
	}
	if c.dirs[name] {
		return nil
	}
	if err := c.parents(name); err != nil {
		return err
	}
	c.dirs[name] = true
	return c.header(name, modeDir|uint32(perm.Perm()), 2, 0, 0, 0)
}

// File adds a regular file of exactly size bytes read from r.
func (c *CPIOWriter) File(name string, perm fs.FileMode, size int64, r io.Reader) error {
	name, err := c.clean(name)
	if err != nil {
		return err
	}
	if size < 0 || size > 0xFFFFFFFF {
		return c.fail(fmt.Errorf("cpio: %s: size %d outside the newc range 0..4GiB-1", name, size))
	}
	if err := c.parents(name); err != nil {
		return err
	}
	if err := c.header(name, modeReg|uint32(perm.Perm()), 1, uint32(size), 0, 0); err != nil {
		return err
	}
	n, err := io.CopyN(c.w, r, size)
	if err != nil {
		return c.fail(fmt.Errorf("cpio: %s: copied %d of %d bytes: %w", name, n, size, err))
	}
	return c.pad(size)
}

// Bytes adds a regular file holding data.
func (c *CPIOWriter) Bytes(name string, perm fs.FileMode, data []byte) error {
	return c.File(name, perm, int64(len(data)), bytes.NewReader(data))
}

// CharDev adds a character device node, e.g. dev/console (5, 1), which the
// kernel opens as init's stdin/stdout/stderr before devtmpfs is mounted.
func (c *CPIOWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	name, err := c.clean(name)
	if err != nil {
		return err
	}
	if err := c.parents(name); err != nil {
		return err
	}
	return c.header(name, modeChar|uint32(perm.Perm()), 1, 0, major, minor)
}

// Close writes the trailer entry and flushes. It does not close the
// underlying writer.
func (c *CPIOWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if err := c.header(cpioTrailer, 0, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return c.fail(fmt.Errorf("cpio: flush: %w", err))
	}
	return nil
}

func (c *CPIOWriter) clean(name string) (string, error) {
	if c.err != nil {
		return "", c.err
	}
	n := path.Clean(strings.TrimPrefix(name, "/"))
	if n == "." || n == ".." || strings.HasPrefix(n, "../") || n == cpioTrailer {
		return "", c.fail(fmt.Errorf("cpio: invalid entry name %q", name))
	}
	return n, nil
}

func (c *CPIOWriter) parents(name string) error {
	if dir := path.Dir(name); !c.dirs[dir] {
		return c.Dir(dir, 0o755)
	}
	return nil
}

func (c *CPIOWriter) header(name string, mode, nlink, size, rmajor, rminor uint32) error {
	c.ino++
	fields := [13]uint32{c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, uint32(len(name) + 1), 0}
	var b strings.Builder
	b.WriteString(cpioMagic)
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	if _, err := c.w.WriteString(b.String()); err != nil {
		return c.fail(fmt.Errorf("cpio: %s: %w", name, err))
	}
	return c.pad(int64(cpioHdrLen + len(name) + 1))
}

// pad aligns the stream to 4 bytes after n bytes of header or data.
func (c *CPIOWriter) pad(n int64) error {
	if p := (4 - n%4) % 4; p > 0 {
		if _, err := c.w.Write(make([]byte, p)); err != nil {
			return c.fail(fmt.Errorf("cpio: pad: %w", err))
		}
	}
	return nil
}

func (c *CPIOWriter) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return c.err
}
