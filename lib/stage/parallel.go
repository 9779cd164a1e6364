package stage

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/skyflows/skyflows/lib/ndjson"
)

// chunkSize is how much input a worker takes at a time.
const chunkSize = 64 << 10

// chunk is a run of input lines handed to a worker, and what it made.
type chunk struct {
	data  []byte // the lines, back to back
	lines []chunkLine
	out   bytes.Buffer
	bad   []badLine
	kept  int
	// values and errs are what Prepare made of each line, for a Preparer.
	values []any
	errs   []error
	done   chan struct{}
}

type chunkLine struct {
	num        int
	start, end int   // in data; start == end with err set for a line not kept
	err        error // a line the reader refused (too long)
}

// badLine is a rejected line: its raw text (nil if not kept) and how much
// output came before it in its chunk.
type badLine struct {
	raw    []byte
	err    *ndjson.LineError
	outLen int
	index  int // in the chunk's lines
	kept   int // lines kept before it in the chunk
}

// parallel runs processors on workers, one per core, for a stage whose
// processor keeps no state from one record to the next. Output keeps the
// input's order.
type parallel struct {
	lp         *loop
	prep       Preparer // or, for stateless processors, one per worker:
	procs      []Processor
	writers    []*chunkWriter
	outs       []*bufio.Writer
	work       chan *chunk
	ordered    chan *chunk
	quit       chan struct{}
	workers    int
	cur        *chunk
	dispatched atomic.Int64
	written    atomic.Int64
}

// chunkWriter lets a processor's bufio.Writer write into the current chunk.
type chunkWriter struct{ buf *bytes.Buffer }

func (w *chunkWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

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
	c.data, c.lines, c.bad, c.kept = c.data[:0], c.lines[:0], c.bad[:0], 0
	c.values, c.errs = c.values[:0], c.errs[:0]
	c.out.Reset()
	chunks.Put(c)
}

// dispatch hands the current chunk, if it holds anything, to the workers.
func (p *parallel) dispatch() error {
	if p.cur == nil || len(p.cur.lines) == 0 {
		return nil
	}
	c := p.cur
	p.cur = newChunk()
	p.dispatched.Add(1)
	select {
	case p.ordered <- c:
	case <-p.quit:
		return errStopped
	}
	select {
	case p.work <- c:
	case <-p.quit:
		return errStopped
	}
	return nil
}

var errStopped = errors.New("stopped")

// read splits the input into chunks until its end.
func (p *parallel) read() error {
	defer close(p.work)
	defer close(p.ordered)
	p.cur = newChunk()
	for {
		line, err := p.lp.reader.Next()
		if err == io.EOF {
			return p.dispatch()
		}
		c := p.cur
		if err != nil {
			var lineErr *ndjson.LineError
			if !errors.As(err, &lineErr) {
				p.dispatch()
				return err
			}
			c.lines = append(c.lines, chunkLine{num: lineErr.Line, err: lineErr.Err})
		} else {
			start := len(c.data)
			c.data = append(c.data, line...)
			c.lines = append(c.lines, chunkLine{num: p.lp.reader.Line(), start: start, end: len(c.data)})
		}
		if len(c.data) >= chunkSize {
			if err := p.dispatch(); err != nil {
				return err
			}
		}
	}
}

// prepare runs Prepare over the lines of chunks.
func (p *parallel) prepare() {
	for c := range p.work {
		for _, l := range c.lines {
			var v any
			err := l.err
			if err == nil {
				line := c.data[l.start:l.end]
				if !utf8.Valid(line) {
					err = errInvalidUTF8
				} else {
					v, err = p.prep.Prepare(line)
				}
			}
			c.values, c.errs = append(c.values, v), append(c.errs, err)
		}
		close(c.done)
	}
}

// writePrepared hands a chunk's prepared values to Process in order.
func (p *parallel) writePrepared(c *chunk) error {
	lp := p.lp
	for i, l := range c.lines {
		lp.stats.In.Add(1)
		err := c.errs[i]
		var emitted bool
		if err == nil {
			emitted, err = p.prep.Process(c.values[i])
		}
		switch {
		case err != nil:
			var raw []byte
			if l.err == nil {
				raw = c.data[l.start:l.end]
			}
			if err := lp.bad(raw, &ndjson.LineError{Line: l.num, Err: err}); err != nil {
				return err
			}
		case emitted:
			lp.stats.Out.Add(1)
		default:
			lp.stats.Dropped.Add(1)
		}
	}
	return nil
}

// process runs worker i's processor over chunks.
func (p *parallel) process(i int) {
	if p.prep != nil {
		p.prepare()
		return
	}
	proc, cw, w := p.procs[i], p.writers[i], p.outs[i]
	for c := range p.work {
		cw.buf = &c.out
		for i, l := range c.lines {
			if l.err != nil {
				w.Flush()
				c.bad = append(c.bad, badLine{err: &ndjson.LineError{Line: l.num, Err: l.err}, outLen: c.out.Len(), index: i, kept: c.kept})
				continue
			}
			line := c.data[l.start:l.end]
			var emitted bool
			var err error
			if !utf8.Valid(line) {
				err = errInvalidUTF8
			} else {
				emitted, err = proc.Record(line)
			}
			switch {
			case err != nil:
				w.Flush()
				c.bad = append(c.bad, badLine{raw: line, err: &ndjson.LineError{Line: l.num, Err: err}, outLen: c.out.Len(), index: i, kept: c.kept})
			case emitted:
				c.kept++
			}
		}
		w.Flush()
		close(c.done)
	}
}

// write puts out the chunks' results in input order.
func (p *parallel) write() error {
	lp := p.lp
	for c := range p.ordered {
		<-c.done
		if p.prep != nil {
			if err := p.writePrepared(c); err != nil {
				return err
			}
			p.finished(c)
			if err := p.flushIfIdle(); err != nil {
				return err
			}
			continue
		}
		from := 0
		for i, b := range c.bad {
			lp.out.Write(c.out.Bytes()[from:b.outLen])
			from = b.outLen
			if err := lp.bad(b.raw, b.err); err != nil {
				lp.count(b.index+1, b.kept, i+1)
				return err
			}
		}
		lp.out.Write(c.out.Bytes()[from:])
		lp.count(len(c.lines), c.kept, len(c.bad))
		p.finished(c)
		if err := p.flushIfIdle(); err != nil {
			return err
		}
	}
	for _, proc := range p.procs {
		if err := proc.Close(); err != nil {
			return err
		}
	}
	return nil
}

// newPrepared runs n workers that Prepare lines for the one processor.
func newPrepared(lp *loop, n int, prep Preparer) *parallel {
	p := &parallel{lp: lp, prep: prep, procs: []Processor{prep}, quit: make(chan struct{})}
	p.workers = n
	p.work = make(chan *chunk, n)
	p.ordered = make(chan *chunk, 2*n+2)
	return p
}

// newParallel opens a processor for each of n workers.
func newParallel(lp *loop, n int, open func(w *bufio.Writer) (Processor, error)) (*parallel, error) {
	p := &parallel{lp: lp, quit: make(chan struct{}), workers: n}
	for range n {
		cw := &chunkWriter{}
		w := bufio.NewWriterSize(cw, writeBuffer)
		proc, err := open(w)
		if err != nil {
			return nil, err
		}
		p.procs, p.writers, p.outs = append(p.procs, proc), append(p.writers, cw), append(p.outs, w)
	}
	p.work = make(chan *chunk, n)
	p.ordered = make(chan *chunk, 2*n+2)
	return p, nil
}

func (p *parallel) finished(c *chunk) {
	p.written.Add(1)
	c.recycle()
}

// flushIfIdle flushes the output when no chunk waits to be written.
func (p *parallel) flushIfIdle() error {
	if len(p.ordered) > 0 {
		return nil
	}
	return p.lp.flush()
}

// count adds n lines, of which kept were kept and bad were bad, to the
// stats; bad ones are already counted by loop.bad.
func (lp *loop) count(n, kept, bad int) {
	lp.stats.In.Add(int64(n))
	lp.stats.Out.Add(int64(kept))
	lp.stats.Dropped.Add(int64(n - kept - bad))
}

// run reads, processes and writes to the end of input. The reading
// goroutine holds the loop's mutex but while it waits for input, and
// releases it when it ends; after a write error it is not waited for.
func (p *parallel) run() error {
	var wg sync.WaitGroup
	for i := range p.workers {
		wg.Add(1)
		go func() { defer wg.Done(); p.process(i) }()
	}
	read := make(chan error, 1)
	go func() {
		defer p.lp.mu.Unlock()
		read <- p.read()
	}()
	if err := p.write(); err != nil {
		close(p.quit)
		return err
	}
	wg.Wait()
	return <-read
}

// drained reports whether every chunk handed out is written.
func (p *parallel) drained() bool { return p.dispatched.Load() == p.written.Load() }
