package flows

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/backlog"
	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/stage"
)

// source is one run of sky-flows: what reads frames and what it counts.
type source struct {
	cfg   *config
	queue *backlog.Queue
	errw  io.Writer
	logMu sync.Mutex

	// frameMu serialises frames from several analyzers: what follows is
	// the frames' state.
	frameMu sync.Mutex
	record  *bufio.Writer // --record, or nil
	dead    *bufio.Writer // --dead-letter, or nil
	flows   [][]byte      // reused by analyzer.Parse
	free    chan []byte   // buffers of written blocks, for the next frames
	warned  map[error]bool
	peers   []*peer // one per analyzer followed
	started time.Time
	// done ends the source: a signal, --count or --for reached, or the
	// output gone.
	done context.CancelFunc

	frames, in, out, dropped, bad, reconnects atomic.Int64
}

// instrument makes sky-flows' metrics.
func (s *source) instrument() *metrics.Set {
	m := metrics.New(name)
	m.Count("flows_frames_total", "Frames received from the analyzers (or replayed).", &s.frames)
	m.Count("records_in_total", "Flows received.", &s.in)
	m.Count("records_out_total", "Flows written out.", &s.out)
	m.Count("records_dropped_total", "Flows dropped: the memory and disk buffers were full.", &s.dropped)
	m.Count("flows_bad_frames_total", "Frames without flows: not JSON, not a store of flows.", &s.bad)
	m.Count("flows_reconnects_total", "Connections to an analyzer made again.", &s.reconnects)
	m.Gauge("flows_backlog_memory_bytes", "Bytes of flows waiting in memory for stdout.", func() float64 { return float64(s.queue.Size().MemBytes) })
	m.Gauge("flows_backlog_disk_bytes", "Bytes of flows waiting on disk for stdout.", func() float64 { return float64(s.queue.Size().DiskBytes) })
	for _, c := range []struct {
		name, help string
		v          func(p *peer) *atomic.Int64
	}{
		{"flows_analyzer_frames_total", "Frames received, by analyzer.", func(p *peer) *atomic.Int64 { return &p.frames }},
		{"flows_analyzer_flows_total", "Flows received, by analyzer.", func(p *peer) *atomic.Int64 { return &p.flows }},
		{"flows_analyzer_reconnects_total", "Connections made again, by analyzer.", func(p *peer) *atomic.Int64 { return &p.reconnects }},
	} {
		m.CounterVec(c.name, c.help, "analyzer", func(emit func(float64, string)) {
			for _, p := range s.peers {
				emit(float64(c.v(p).Load()), p.name)
			}
		})
	}
	return m
}

// peer is one analyzer followed, and its counts.
type peer struct {
	name                      string
	frames, flows, reconnects atomic.Int64
}

func (s *source) logf(format string, a ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.errw, name+": "+format+"\n", a...)
}

func (s *source) stats() string {
	size := s.queue.Size()
	line := fmt.Sprintf("frames %d flows in %d out %d dropped %d buffered %d bad frames %d reconnects %d %s",
		s.frames.Load(), s.in.Load(), s.out.Load(), s.dropped.Load(), size.Records, s.bad.Load(), s.reconnects.Load(),
		stage.Rate(s.in.Load(), time.Since(s.started)))
	if len(s.peers) > 1 {
		for _, p := range s.peers {
			line += fmt.Sprintf("; %s: frames %d flows %d reconnects %d", p.name, p.frames.Load(), p.flows.Load(), p.reconnects.Load())
		}
	}
	return line
}

func run(c *cli.Context, cfg *config, in io.Reader, out, errw io.Writer) error {
	q, release, err := newQueue(cfg)
	if err != nil {
		return err
	}
	defer release()
	s := &source{cfg: cfg, queue: q, errw: errw, warned: map[error]bool{}, free: make(chan []byte, 8), peers: peersOf(cfg), started: time.Now()}
	m := s.instrument()
	finish, err := m.Start(c, errw, cfg.quiet)
	if err != nil {
		return err
	}
	defer finish()
	if left := q.Size().Records; left > 0 {
		s.logf("%d flows left in %s by an earlier run come first", left, cfg.bufferDir)
	}
	for _, f := range []struct {
		path string
		w    **bufio.Writer
	}{{cfg.record, &s.record}, {cfg.deadLetter, &s.dead}} {
		if f.path == "" {
			continue
		}
		file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer file.Close()
		*f.w = bufio.NewWriter(file)
		defer (*f.w).Flush()
	}

	ctx, done := context.WithCancel(c.Context)
	s.done = done
	defer s.done()
	if cfg.runFor > 0 {
		defer time.AfterFunc(cfg.runFor, s.done).Stop()
	}
	written := make(chan error, 1)
	go func() {
		err := s.write(out)
		if err != nil {
			s.done() // nothing more can go out
		}
		written <- err
	}()
	statsDone := make(chan struct{})
	defer close(statsDone)
	go stage.Every(cfg.statsInterval, statsDone, func() { s.logf("stats: %s", s.stats()) })
	endProgress := func() {}
	if cfg.replay != "" && !cfg.quiet && stage.Terminal(errw) {
		// A person watches a replay: one line that goes on counting.
		done, ended := make(chan struct{}), false
		go stage.Every(500*time.Millisecond, done, func() {
			s.logMu.Lock()
			defer s.logMu.Unlock()
			if !ended {
				fmt.Fprintf(errw, "\r%s: %d flows %s ", name, s.out.Load(), stage.Rate(s.out.Load(), time.Since(s.started)))
			}
		})
		endProgress = func() {
			close(done)
			s.logMu.Lock()
			defer s.logMu.Unlock()
			ended = true
			fmt.Fprint(errw, "\r\033[K")
		}
	}

	var srcErr error
	if cfg.replay != "" {
		srcErr = s.replayFrames(ctx, in)
	} else {
		srcErr = s.subscribe(ctx)
	}
	q.Close()
	err = s.wait(c.Context, written)
	endProgress()
	if !cfg.quiet || err != nil || srcErr != nil {
		s.logf("stats: %s", s.stats())
	}
	if stage.ReaderGone(err) {
		if !cfg.quiet {
			s.logf("%s", stage.ReaderGoneNotice)
		}
		err = nil
	}
	return errors.Join(srcErr, err)
}

// wait waits for the writer to put out every buffered flow; after a
// signal, for --drain-timeout at most.
func (s *source) wait(ctx context.Context, written <-chan error) error {
	if ctx.Err() == nil {
		return <-written
	}
	select {
	case err := <-written:
		return err
	case <-time.After(s.cfg.drainTimeout):
		left := s.queue.Size()
		where := ""
		if s.cfg.bufferDir != "" && left.DiskBytes > 0 {
			where = fmt.Sprintf(" (those on disk stay in %s for the next run)", s.cfg.bufferDir)
		}
		return fmt.Errorf("stdout took no more flows for %s after the signal: %d flows still buffered%s", s.cfg.drainTimeout, left.Records, where)
	}
}

// write copies queued flows to out, flushing whenever the queue is empty.
func (s *source) write(out io.Writer) error {
	stage.IgnoreSIGPIPE()
	stage.GrowPipe(out)
	w := bufio.NewWriterSize(out, 256<<10)
	for {
		b, ok, err := s.queue.Pop()
		if err != nil {
			return err
		}
		if !ok {
			return w.Flush()
		}
		if _, err := w.Write(b.Data); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		select {
		case s.free <- b.Data:
		default: // enough kept
		}
		s.out.Add(int64(b.Records))
		if !s.queue.Ready() {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
}

// frame handles one frame: its flows become one block of lines. It
// returns how many flows the frame held.
func (s *source) frame(data []byte, at time.Time, wait bool) int {
	s.frameMu.Lock()
	defer s.frameMu.Unlock()
	s.frames.Add(1)
	if s.record != nil {
		s.record.Write(analyzer.AppendRecord(nil, at, data))
		s.record.Flush()
	}
	m, err := analyzer.Parse(data, s.flows)
	s.flows = m.Flows[:0]
	if err != nil {
		s.badFrame(data, err)
		return 0
	}
	flows := m.Flows
	if limit := s.cfg.count; limit > 0 {
		flows = flows[:min(int64(len(flows)), max(limit-s.in.Load(), 0))]
		if s.in.Load()+int64(len(flows)) >= limit {
			defer s.done() // --count reached
		}
	}
	if len(flows) == 0 {
		return 0
	}
	size := len(flows)
	for _, f := range flows {
		size += len(f)
	}
	block := backlog.Block{Records: len(flows), Data: s.buffer(size)}
	for _, f := range flows {
		block.Data = appendLine(block.Data, f)
	}
	s.in.Add(int64(block.Records))
	if wait {
		if !s.queue.PushWait(block) {
			s.dropped.Add(int64(block.Records))
		}
		return block.Records
	}
	ok, err := s.queue.Push(block)
	if err != nil {
		s.logf("%v", err)
	}
	if !ok {
		n := s.dropped.Add(int64(block.Records))
		if n == int64(block.Records) {
			s.logf("warning: buffers full (--buffer-size, --buffer-disk-size): dropping flows; the stats count them")
		}
	}
	return block.Records
}

// buffer returns an empty buffer for size bytes, one of a written block
// when one is big enough.
func (s *source) buffer(size int) []byte {
	select {
	case b := <-s.free:
		if cap(b) >= size {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, size)
}

// appendLine appends a flow and a newline; a flow sent with line breaks
// in it is compacted, so that it stays one line.
func appendLine(dst, flow []byte) []byte {
	if bytes.IndexByte(flow, '\n') >= 0 || bytes.IndexByte(flow, '\r') >= 0 {
		var b bytes.Buffer
		if json.Compact(&b, flow) == nil {
			flow = b.Bytes()
		}
	}
	return append(append(dst, flow...), '\n')
}

// badFrame counts a frame without flows, reports the first of each kind
// with a sample and keeps it in the dead letter file.
func (s *source) badFrame(data []byte, err error) {
	s.bad.Add(1)
	if s.dead != nil {
		s.dead.Write(data)
		s.dead.WriteByte('\n')
		s.dead.Flush()
	}
	kind := err
	for _, k := range []error{analyzer.ErrNotJSON, analyzer.ErrObjNotArray, analyzer.ErrUnknownType, analyzer.ErrNoFlowObject} {
		if errors.Is(err, k) {
			kind = k
		}
	}
	if s.warned[kind] {
		return
	}
	s.warned[kind] = true
	sample := data
	if len(sample) > 120 {
		sample = append(sample[:120:120], "..."...)
	}
	s.logf("frame %d skipped: %v; sample: %q (further ones of this kind are only counted)", s.frames.Load(), err, sample)
}
