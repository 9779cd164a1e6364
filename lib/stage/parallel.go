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
	done  chan struct{}
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
	procs      []Processor
	writers    []*chunkWriter
	outs       []*bufio.Writer
	work       chan *chunk
	ordered    chan *chunk
	quit       chan struct{}
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
	c.data, c.lines, c.bad, c.kept = c.data[:0], c.lines[:0], c.bad[:0], 0
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

// process runs worker i's processor over chunks.
func (p *parallel) process(i int) {
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
		p.written.Add(1)
		c.recycle()
		if len(p.ordered) == 0 {
			if err := lp.flush(); err != nil {
				return err
			}
		}
	}
	for _, proc := range p.procs {
		if err := proc.Close(); err != nil {
			return err
		}
	}
	return nil
}

// newParallel opens a processor for each of n workers.
func newParallel(lp *loop, n int, open func(w *bufio.Writer) (Processor, error)) (*parallel, error) {
	p := &parallel{lp: lp, quit: make(chan struct{})}
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
	for i := range p.procs {
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
