package stage

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/skyflows/skyflows/lib/ndjson"
)

// chunkSize is how much input goes into a chunk.
const chunkSize = 64 << 10

// chunk is a run of input lines, handed by the reader to the owner (and
// by the owner to a worker, when there are workers), and what they made.
type chunk struct {
	data  []byte // the lines, each followed by a newline
	lines []chunkLine
	// idle says the reader was about to wait for input after this chunk;
	// end is the input offset the chunk ends at.
	idle bool
	end  int64
	// values and errs are what Prepare made of each line.
	values []any
	errs   []error
	// out, bad, kept and ends are what a stateless processor made: the
	// output, the rejected lines, the count of lines kept and where the
	// output of each ends; failed, if set, stopped it at line failedAt.
	out      bytes.Buffer
	bad      []badLine
	kept     int
	ends     []int
	failed   error
	failedAt int
	done     chan struct{}
}

type chunkLine struct {
	num        int
	start, end int   // in data, newline excluded
	err        error // a line the reader refused (too long)
}

// badLine is a line a stateless processor rejected and how much output
// came before it in its chunk.
type badLine struct {
	err    *ndjson.LineError
	line   int // index in the chunk's lines
	outLen int
	kept   int // lines kept before it in the chunk
}

// chunks recycles chunks and their buffers.
var chunks = sync.Pool{New: func() any {
	return &chunk{data: make([]byte, 0, 2*chunkSize)}
}}

func newChunk() *chunk {
	c := chunks.Get().(*chunk)
	c.done = make(chan struct{})
	return c
}

func (c *chunk) recycle() {
	clear(c.values)
	c.data, c.lines, c.bad, c.kept, c.ends = c.data[:0], c.lines[:0], c.bad[:0], 0, c.ends[:0]
	c.values, c.errs, c.failed, c.idle = c.values[:0], c.errs[:0], nil, false
	c.out.Reset()
	chunks.Put(c)
}

func (c *chunk) line(l chunkLine) []byte { return c.data[l.start:l.end] }

// raw is the line as read, for the dead letter file; nil if not kept.
func (c *chunk) raw(l chunkLine) []byte {
	if l.err != nil && l.start == l.end {
		return nil
	}
	return c.line(l)
}

var errInvalidUTF8 = BadInput(errors.New("decode: invalid UTF-8"))

// valid is a line's text, or why it is rejected before a processor sees
// it: the reader refused it (too long), or it is not UTF-8.
func (c *chunk) valid(l chunkLine) ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	line := c.line(l)
	if !utf8.Valid(line) {
		return nil, errInvalidUTF8
	}
	return line, nil
}

// read cuts the input into chunks until its end or until the owner
// stops; a chunk goes out when it is full and before every read that may
// wait for input.
func (lp *loop) read(in io.Reader, maxLine int) {
	defer close(lp.chunks)
	c := newChunk()
	sent := true // nothing read since the last idle chunk
	var end int64
	send := func(idle bool) bool {
		if len(c.lines) == 0 && (sent || !idle) && lp.reader.Offset() == end {
			return true
		}
		c.idle, c.end = idle, lp.reader.Offset()
		sent, end = idle, c.end
		select {
		case lp.chunks <- c:
		case <-lp.quit:
			return false
		}
		c = newChunk()
		return true
	}
	lp.reader = ndjson.NewReader(&idleReader{r: in, idle: func() { send(true) }}, readBuffer, maxLine)
	for {
		line, err := lp.reader.Next()
		if err == io.EOF {
			send(true)
			return
		}
		if err != nil {
			var lineErr *ndjson.LineError
			if !errors.As(err, &lineErr) {
				send(true)
				lp.readErr = err
				return
			}
			c.lines = append(c.lines, chunkLine{num: lineErr.Line, start: len(c.data), end: len(c.data), err: BadInput(lineErr.Err)})
		} else {
			start := len(c.data)
			c.data = append(append(c.data, line...), '\n')
			c.lines = append(c.lines, chunkLine{num: lp.reader.Line(), start: start, end: len(c.data) - 1})
		}
		sent = false
		if len(c.data) >= chunkSize && !send(false) {
			return
		}
	}
}

// worker is a stateless processor of its own and the writer it writes
// chunk output through.
type worker struct {
	proc Processor
	w    *bufio.Writer
	cw   switchWriter
}

// switchWriter writes to whichever buffer its worker works on.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// prepare is worker i: it prepares chunks' lines for the one processor,
// or runs its own stateless processor over them.
func (lp *loop) prepare(i int) {
	for c := range lp.work {
		if lp.prep != nil {
			prepare(c, lp.prep)
		} else {
			lp.procs[i].run(c)
		}
		close(c.done)
	}
}

// prepare prepares a chunk's lines, checked first, into its values.
func prepare(c *chunk, p Preparer) {
	for _, l := range c.lines {
		var v any
		line, err := c.valid(l)
		if err == nil {
			v, err = p.Prepare(line)
		}
		c.values, c.errs = append(c.values, v), append(c.errs, err)
	}
}

// run runs the worker's processor over a chunk, into the chunk's buffer.
func (wk *worker) run(c *chunk) {
	wk.cw.w = &c.out
	defer wk.w.Flush()
	for i, l := range c.lines {
		var emitted bool
		line, err := c.valid(l)
		if err == nil {
			emitted, err = wk.proc.Record(line)
		}
		switch {
		case err != nil && !IsBadInput(err):
			c.failed, c.failedAt = err, i
			return
		case err != nil:
			wk.w.Flush()
			c.bad = append(c.bad, badLine{err: &ndjson.LineError{Line: l.num, Err: err}, line: i, outLen: c.out.Len(), kept: c.kept})
		case emitted:
			c.kept++
			c.ends = append(c.ends, c.out.Len()+wk.w.Buffered())
		}
	}
}

// writeChunk writes out what a stateless processor made of a chunk, with
// its rejected lines reported in their place.
func (lp *loop) writeChunk(c *chunk) error {
	base := lp.written.N.Load() + int64(lp.out.Buffered())
	out := c.out.Bytes()
	from, lines, kept := 0, 0, 0
	for _, b := range c.bad {
		lp.out.Write(out[from:b.outLen])
		from = b.outLen
		lp.count(b.line-lines, b.kept-kept)
		lp.stats.In.Add(1)
		lines, kept = b.line+1, b.kept
		if err := lp.bad(c.raw(c.lines[b.line]), b.err); err != nil {
			lp.unhandled(len(c.lines) - lines)
			return err
		}
	}
	n := len(c.lines)
	if c.failed != nil {
		n = c.failedAt
	}
	lp.out.Write(out[from:])
	lp.count(n-lines, c.kept-kept)
	for _, e := range c.ends {
		lp.wrote(base + int64(e))
	}
	if c.failed != nil {
		lp.stats.Unwritten.Add(1)
		lp.unhandled(len(c.lines) - n - 1)
		return c.failed
	}
	return nil
}

// count adds n lines handled without error, kept of them kept.
func (lp *loop) count(n, kept int) {
	lp.stats.In.Add(int64(n))
	lp.stats.Out.Add(int64(kept))
	lp.stats.Dropped.Add(int64(n - kept))
}
