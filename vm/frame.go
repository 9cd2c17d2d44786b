package vm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// The guest sends everything the host needs (script output, the JSON
// result, the exit code) as frames: one text line each,
//
//	@@ktstar1 KIND SEQ LEN CRC32 BASE64
//
// KIND is one of the frame kinds below, SEQ counts frames from 0 so a lost
// line is noticed, LEN is the payload length and CRC32 (IEEE, hex) its
// checksum. The host finds the marker anywhere in a line, so console noise
// printed before a frame on the same line (a kernel message) does not
// matter, and a frame garbled by noise inside it fails its checksum instead
// of delivering wrong bytes.
const (
	frameMarker = "@@ktstar1 "
	// frameChunk bounds one frame's payload, keeping lines ~4 KiB.
	frameChunk = 3 << 10
	// emptyPayload stands for a zero-length payload, keeping five fields.
	emptyPayload = "-"
)

// Frame kinds, guest to host.
const (
	kindStart = "start" // the run has started (empty payload): signals are forwarded from now on
	kindOut   = "out"   // script stdout bytes
	kindErr   = "err"   // script stderr bytes
	kindJSON  = "json"  // a piece of the --json result file
	kindExit  = "exit"  // the final frame: exitRecord as JSON
)

// kindSignal is the one frame kind the host sends the guest, on the
// same ports in the other direction: a signal (its number in decimal) to
// forward to the run.
const kindSignal = "signal"

// exitRecord is the payload of the exit frame.
type exitRecord struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"` // why the guest could not run the script
}

// frameWriter encodes frames onto a byte stream (the guest's serial port).
type frameWriter struct {
	w   io.Writer
	seq uint64
}

// write sends p as one or more frames of the given kind.
func (f *frameWriter) write(kind string, p []byte) error {
	for {
		n := min(len(p), frameChunk)
		enc := base64.StdEncoding.EncodeToString(p[:n])
		if n == 0 {
			enc = emptyPayload
		}
		line := fmt.Sprintf("%s%s %d %d %08x %s\n", frameMarker, kind, f.seq, n, crc32.ChecksumIEEE(p[:n]), enc)
		f.seq++
		if _, err := io.WriteString(f.w, line); err != nil {
			return fmt.Errorf("write %s frame: %w", kind, err)
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

// frame is one decoded frame.
type frame struct {
	kind    string
	seq     uint64
	payload []byte
}

// parseFrame decodes the frame in line, if there is one. ok is false for a
// line without the marker (console text); err is set for a line that has
// the marker but does not decode and check.
func parseFrame(line string) (fr frame, ok bool, err error) {
	i := strings.Index(line, frameMarker)
	if i < 0 {
		return frame{}, false, nil
	}
	fields := strings.Fields(line[i+len(frameMarker):])
	if len(fields) != 5 {
		return frame{}, true, fmt.Errorf("frame %q: want 5 fields, got %d", line, len(fields))
	}
	seq, err1 := strconv.ParseUint(fields[1], 10, 64)
	n, err2 := strconv.Atoi(fields[2])
	sum, err3 := strconv.ParseUint(fields[3], 16, 32)
	var payload []byte
	var err4 error
	if fields[4] != emptyPayload {
		payload, err4 = base64.StdEncoding.DecodeString(fields[4])
	}
	if e := firstErr(err1, err2, err3, err4); e != nil {
		return frame{}, true, fmt.Errorf("frame %q: %w", line, e)
	}
	if len(payload) != n || crc32.ChecksumIEEE(payload) != uint32(sum) {
		return frame{}, true, fmt.Errorf("frame %d (%s): length or checksum mismatch (corrupted on the serial line)", seq, fields[0])
	}
	return frame{kind: fields[0], seq: seq, payload: payload}, true, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// frameReader reassembles the guest's frames on the host: it routes output
// to the host's writers as it arrives, collects the JSON result and records
// the exit frame. It is used from one goroutine per stream, so the caller
// serialises calls to add.
type frameReader struct {
	stdout, stderr io.Writer
	next           uint64
	json           bytes.Buffer
	sawJSON        bool
	exit           *exitRecord
	err            error // first protocol error (lost or corrupt frame)
}

// add takes one frame in order of arrival.
func (r *frameReader) add(fr frame) {
	if fr.seq != r.next && r.err == nil {
		r.err = fmt.Errorf("guest data channel: frame %d arrived, expected %d (lost frames)", fr.seq, r.next)
	}
	r.next = fr.seq + 1
	switch fr.kind {
	case kindStart:
		// Boot's loop acts on it (the run's deadline, forwarding).
	case kindOut:
		r.stdout.Write(fr.payload)
	case kindErr:
		r.stderr.Write(fr.payload)
	case kindJSON:
		r.sawJSON = true
		r.json.Write(fr.payload)
	case kindExit:
		var rec exitRecord
		if err := json.Unmarshal(fr.payload, &rec); err != nil && r.err == nil {
			r.err = fmt.Errorf("guest exit frame %q: %w", fr.payload, err)
		}
		r.exit = &rec
	default:
		if r.err == nil {
			r.err = fmt.Errorf("guest data channel: unknown frame kind %q", fr.kind)
		}
	}
}

// fail records a frame that did not decode.
func (r *frameReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}
