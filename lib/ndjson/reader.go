// Package ndjson reads newline-delimited JSON lines with line numbers and no
// silent length cap.
package ndjson

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLine is the longest line a Reader accepts unless told otherwise.
const DefaultMaxLine = 64 << 20

// keepBuf is the capacity above which the line buffer is let go after use,
// so one huge line does not pin its memory for the rest of the stream.
const keepBuf = 1 << 20

// ErrTooLong is the cause of a LineError for a line longer than the maximum.
var ErrTooLong = errors.New("line too long")

// LineError is an input error tied to a line number.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Reader splits a stream into lines. Blank lines are skipped; a final line
// without a newline is still a line; CR before LF is removed.
type Reader struct {
	br   *bufio.Reader
	max  int
	line int
	off  int64
	buf  []byte
}

// NewReader reads r with a buffer of size bytes and lines up to max bytes
// (DefaultMaxLine if max <= 0).
func NewReader(r io.Reader, size, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, size), max: max}
}

// Line is the number of the line last returned, counting from 1.
func (r *Reader) Line() int { return r.line }

// Offset is how many bytes of input the lines returned so far (and the
// blank lines before them) took, line ends included.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next non-blank line, valid until the following call.
// At the end of input it returns io.EOF. A line over the maximum is skipped
// and reported as a *LineError wrapping ErrTooLong; other read errors are
// returned as they are.
func (r *Reader) Next() ([]byte, error) {
	for {
		line, err := r.read()
		if err != nil {
			return nil, err
		}
		if !isBlank(line) {
			return line, nil
		}
	}
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// read returns one line without its line end.
func (r *Reader) read() ([]byte, error) {
	if cap(r.buf) > keepBuf {
		r.buf = nil
	}
	r.buf = r.buf[:0]
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.off += int64(len(chunk))
		if err == nil && len(r.buf) == 0 && !tooLong {
			r.line++
			return trimEOL(chunk), r.checkLen(chunk)
		}
		if !tooLong {
			if len(r.buf)+len(chunk) > r.max+2 {
				tooLong, r.buf = true, r.buf[:0]
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			r.line++
			if tooLong {
				return nil, &LineError{Line: r.line, Err: ErrTooLong}
			}
			return trimEOL(r.buf), r.checkLen(r.buf)
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(r.buf) > 0 || tooLong):
			r.line++
			if tooLong {
				return nil, &LineError{Line: r.line, Err: ErrTooLong}
			}
			return trimEOL(r.buf), r.checkLen(r.buf)
		default:
			return nil, err
		}
	}
}

func (r *Reader) checkLen(raw []byte) error {
	if len(trimEOL(raw)) > r.max {
		return &LineError{Line: r.line, Err: ErrTooLong}
	}
	return nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
