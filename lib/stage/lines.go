package stage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/ndjson"
)

// Processor handles the records of a line stage.
type Processor interface {
	// Record handles one input line, writes what it emits to the output
	// given to Open and reports whether it emitted anything. An error
	// marked by BadInput rejects the line, and must come before any output
	// for it; any other error (a write, a disk) stops the stage.
	Record(line []byte) (emitted bool, err error)
	// Close finishes the output. It is called once, on every path out.
	Close() error
}

// Preparer is a Processor whose lines are decoded ahead, several at once
// on every core, by Prepare, which must be safe for concurrent use and
// whose errors always reject the line; Process then handles the decoded
// values in input order. Record is Prepare then Process.
type Preparer interface {
	Processor
	Prepare(line []byte) (any, error)
	Process(v any) (emitted bool, err error)
}

// Prefetcher is a Preparer that is handed the prepared values of a chunk
// of lines before they are processed, to start the reads of memory that
// processing them will wait for: many reads at once rather than one after
// the other. On one core too, its lines are prepared a chunk at a time.
type Prefetcher interface {
	Preparer
	Prefetch(values []any)
}

// Ticker is a Processor that also has work to do on a clock (closing
// objects by age): Tick is called every TickEvery between chunks of input.
type Ticker interface {
	Processor
	TickEvery() time.Duration
	Tick() error
}

// Committer is a Processor that keeps its input in a journal of its own
// (sky-batch): Journal wraps the input before anything reads it, and
// Commit is called once the lines of a chunk are handled, with the input
// offset the chunk ends at. A run's stats count the records of the input
// up to the offset Committed says; on a stop, the rest are Kept for the
// next run, which counts them.
type Committer interface {
	Processor
	Journal(in io.Reader) io.Reader
	Commit(offset int64) error
	Committed() int64
	Kept() int64
}

// Instrumented is a Processor with metrics of its own, added to the
// stage's (--metrics-addr, --metrics-file).
type Instrumented interface {
	Instrument(m *metrics.Set)
}

// Reporter is a Processor that counts in units of its own (sky-s3put:
// objects): Stats makes the stats line, given the loop's counts.
type Reporter interface {
	Stats(lines *Stats) string
}

// InputError is bad input: the line is rejected and the stream goes on.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }

func (e *InputError) Unwrap() error { return e.Err }

// BadInput marks err, if any, as bad input.
func BadInput(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// IsBadInput reports whether err rejects a line rather than stopping the stage.
func IsBadInput(err error) bool {
	if err == nil {
		return false // and spares errors.As its allocation, on every record
	}
	var bad *InputError
	return errors.As(err, &bad)
}

// Lines describes a stage that reads NDJSON records and writes output.
type Lines struct {
	Name, Usage string
	// ArgsUsage and Description, if set, complete --help.
	ArgsUsage, Description string
	Flags                  []cli.Flag
	// Args lets the stage take positional arguments; without it any is a usage error.
	Args bool
	// Parallel runs a processor per core, for processors that keep no
	// state from one record to the next; output keeps the input's order.
	Parallel bool
	// Does says what the processor does beyond Record and Close: the
	// loop uses those of them it implements, and no other. A processor
	// that implements one not said, or Parallel with one that needs a
	// single processor (Ticks, Commits, Instruments, Reports, Prepares),
	// panics at start: never a silent no-op.
	Does Does
	// Start, if set, runs once before the processors are opened, for what
	// they share (sky-classify's classifier and topology, one for every
	// Parallel processor); its stop, if any, once they are closed.
	Start func(c *cli.Context) (stop func(), err error)
	// OneShot, if set, runs first: a mode that does its work at once,
	// such as sky-s3put --check; done ends the run without reading input.
	OneShot func(c *cli.Context, in io.Reader, out io.Writer) (done bool, err error)
	// Open builds the processor from the parsed flags, writing to out.
	// Its errors exit 1, but usage errors (stage.Usagef: flags).
	Open func(c *cli.Context, out *bufio.Writer) (Processor, error)
}

// Does is a set of what a processor does beyond Record and Close, each
// an interface above.
type Does uint8

const (
	Prepares    Does = 1 << iota // Preparer
	Prefetches                   // Prefetcher
	Ticks                        // Ticker
	Commits                      // Committer
	Instruments                  // Instrumented
	Reports                      // Reporter
)

// single are the capabilities a Parallel stage's processors cannot have:
// the loop owns one processor for them.
const single = Prepares | Prefetches | Ticks | Commits | Instruments | Reports

// does is what proc implements.
func does(proc Processor) Does {
	var d Does
	for _, c := range []struct {
		ok  bool
		has Does
	}{
		{is[Preparer](proc), Prepares}, {is[Prefetcher](proc), Prefetches}, {is[Ticker](proc), Ticks},
		{is[Committer](proc), Commits}, {is[Instrumented](proc), Instruments}, {is[Reporter](proc), Reports},
	} {
		if c.ok {
			d |= c.has
		}
	}
	return d
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// check panics when proc does what the stage did not say, or the stage
// says what cannot work.
func (l Lines) check(proc Processor) {
	if l.Parallel && l.Does&single != 0 {
		panic(fmt.Sprintf("stage %s: Parallel with Does %08b: a capability of one processor", l.Name, l.Does&single))
	}
	if extra := does(proc) &^ l.Does; extra != 0 {
		panic(fmt.Sprintf("stage %s: its processor %T does %08b, not in Does", l.Name, proc, extra))
	}
}

// Input policy values for --on-error.
const (
	OnErrorSkip = "skip"
	OnErrorFail = "fail"
)

const (
	readBuffer  = 256 << 10
	writeBuffer = 64 << 10
	// lockWait bounds how long a stop waits for a stage stuck writing.
	lockWait = 5 * time.Second
)

func commonFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "on-error", Value: OnErrorSkip, EnvVars: []string{"SKY_ON_ERROR"},
			Usage: "what a bad input line does: `MODE` skip (report it and go on) or fail (stop with exit 1)"},
		&cli.StringFlag{Name: "dead-letter", EnvVars: []string{"SKY_DEAD_LETTER"}, TakesFile: true,
			Usage: "append each rejected input line, verbatim, to `FILE`"},
		&cli.DurationFlag{Name: "stats-interval", EnvVars: []string{"SKY_STATS_INTERVAL"},
			Usage: "also print stats to stderr every `DURATION` (0: only at exit)"},
		&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second, EnvVars: []string{"SKY_DRAIN_TIMEOUT"},
			Usage: "after SIGINT, SIGTERM or SIGHUP, keep reading to end of input for at most `DURATION`, then stop with exit 1"},
		&cli.IntFlag{Name: "max-line-bytes", Value: ndjson.DefaultMaxLine, EnvVars: []string{"SKY_MAX_LINE_BYTES"},
			Usage: "reject input lines longer than `N` bytes"},
		QuietFlag(),
	}, metrics.Flags()...)
}

// instrument makes the stage's metrics: its counters, and the
// processor's own.
func (lp *loop) instrument() *metrics.Set {
	m := metrics.New(lp.name)
	m.Count("records_in_total", "Records read.", &lp.stats.In)
	m.Count("records_out_total", "Records written out.", &lp.stats.Out)
	m.Count("records_dropped_total", "Records dropped by the stage's purpose (filtered, not of the format).", &lp.stats.Dropped)
	m.Count("records_bad_total", "Bad input lines, rejected.", &lp.stats.Bad)
	m.Count("records_unwritten_total", "Records read and not written because the stage stopped on an error.", &lp.stats.Unwritten)
	m.Count("input_bytes_total", "Bytes of input handled.", &lp.bytesIn)
	m.Count("output_bytes_total", "Bytes written out.", &lp.written.N)
	if i, ok := lp.proc.(Instrumented); ok {
		i.Instrument(m)
	}
	return m
}

// QuietFlag is -q, the same in every tool: no stats or summary lines,
// only errors.
func QuietFlag() cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"SKY_QUIET"},
		Usage: "print no stats or summary lines, only errors"}
}

// Run runs the stage with args and streams and returns the exit code.
func (l Lines) Run(args []string, in io.Reader, out, errw io.Writer) int {
	return l.RunContext(context.Background(), args, in, out, errw)
}

// RunContext is Run under a parent context, which tests cancel in place
// of a signal.
func (l Lines) RunContext(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	app := NewApp(l.Name, l.Usage, IO{In: in, Out: out, Err: errw})
	app.ArgsUsage, app.Description = l.ArgsUsage, l.Description
	app.Flags = append(append([]cli.Flag{}, l.Flags...), commonFlags()...)
	app.Action = func(c *cli.Context) error {
		if !l.Args {
			if err := NoArgs(c); err != nil {
				return err
			}
		}
		return l.run(c, in, out, errw)
	}
	return ExecuteContext(ctx, app, args)
}

// loop is the state of one run of a line stage. One goroutine, the owner,
// handles every chunk of input, tick and signal; a reader goroutine only
// cuts the input into chunks, and workers only prepare them.
type loop struct {
	name    string
	errw    io.Writer
	fail    bool
	quiet   bool
	stats   Stats
	written *Counter // what reached the output
	out     *bufio.Writer
	// ends are the output offsets at which the records emitted since the
	// last flush end, so that a failed write tells which were lost.
	ends     []int64
	dead     *bufio.Writer
	proc     Processor
	prep     Preparer   // when lines are prepared on workers
	prefetch Prefetcher // or nil
	procs    []*worker  // or stateless processors, one per worker
	commit   Committer  // or nil
	reader   *ndjson.Reader
	// chunks carries the input from the reader, which closes it at the
	// end; the owner hands chunks on to the workers through work, which it
	// closes when it returns, and keeps them, in input order, in inFlight
	// until it has handled them.
	chunks, work chan *chunk
	inFlight     []*chunk
	workers      int
	quit         chan struct{} // closed by the owner when it stops early
	readErr      error         // why the reader stopped, if not at EOF
	bytesIn      atomic.Int64  // the input offset of the last chunk handled
	// committed are the stats as of the last commit, for a Committer.
	committed counts
}

// counts are the values of Stats at one moment.
type counts struct{ in, out, dropped, bad, unwritten int64 }

func (s *Stats) counts() counts {
	return counts{s.In.Load(), s.Out.Load(), s.Dropped.Load(), s.Bad.Load(), s.Unwritten.Load()}
}

func (s *Stats) set(c counts) {
	s.In.Store(c.in)
	s.Out.Store(c.out)
	s.Dropped.Store(c.dropped)
	s.Bad.Store(c.bad)
	s.Unwritten.Store(c.unwritten)
}

// Counter is a writer that counts the bytes W took; N may be read while
// writes go on (by the metrics, or a stage's other goroutine).
type Counter struct {
	W io.Writer
	N atomic.Int64
}

func (c *Counter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N.Add(int64(n))
	return n, err
}

func (l Lines) run(c *cli.Context, in io.Reader, out, errw io.Writer) error {
	started := time.Now() // Open's work (sky-s3put's spool) is the run's too
	policy := c.String("on-error")
	if policy != OnErrorSkip && policy != OnErrorFail {
		return Usagef("--on-error: want skip or fail, got %q", policy)
	}
	IgnoreSIGPIPE()
	GrowPipe(out)
	written := &Counter{W: out}
	lp := &loop{name: l.Name, errw: errw, fail: policy == OnErrorFail, quiet: c.Bool("quiet"), written: written,
		out: bufio.NewWriterSize(written, writeBuffer), quit: make(chan struct{})}
	if l.OneShot != nil {
		if done, err := l.OneShot(c, in, out); done || err != nil {
			return err
		}
	}
	if l.Start != nil {
		stop, err := l.Start(c)
		if err != nil {
			return err
		}
		if stop != nil {
			defer stop()
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if l.Parallel && workers > 1 {
		for range workers {
			wk := &worker{}
			wk.w = bufio.NewWriterSize(&wk.cw, writeBuffer)
			proc, err := l.Open(c, wk.w)
			if err != nil {
				return err
			}
			l.check(proc)
			wk.proc = proc
			lp.procs = append(lp.procs, wk)
		}
	} else {
		proc, err := l.Open(c, lp.out)
		if err != nil {
			return errors.Join(err, lp.out.Flush())
		}
		l.check(proc)
		lp.proc = proc
		if prep, ok := proc.(Preparer); ok && workers > 1 {
			lp.prep = prep
		}
		lp.prefetch, _ = proc.(Prefetcher)
		lp.commit, _ = proc.(Committer)
	}
	if path := c.String("dead-letter"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			lp.closeProcessors()
			return fmt.Errorf("dead letter: %w", err)
		}
		defer f.Close()
		lp.dead = bufio.NewWriter(f)
	}
	if lp.commit != nil {
		in = lp.commit.Journal(in)
	}
	if lp.prep != nil || lp.procs != nil {
		lp.workers = workers
	}
	lp.chunks, lp.work = make(chan *chunk, 2), make(chan *chunk, 2*lp.workers+2)
	for i := range lp.workers {
		go lp.prepare(i)
	}
	go lp.read(in, c.Int("max-line-bytes"))

	statsDone := make(chan struct{})
	defer close(statsDone)
	m := lp.instrument()
	finish, err := m.Start(c, errw, c.Bool("quiet"))
	if err != nil {
		lp.closeProcessors()
		return err
	}
	defer finish()
	reporter, _ := lp.proc.(Reporter)
	report := func() {
		line := lp.stats.String()
		if reporter != nil {
			line = reporter.Stats(&lp.stats)
		}
		fmt.Fprintf(errw, "%s: stats: %s %s\n", l.Name, line, Rate(lp.stats.In.Load(), time.Since(started)))
	}
	go Every(c.Duration("stats-interval"), statsDone, report)
	err = lp.wait(c.Context, c.Duration("drain-timeout"))
	if !c.Bool("quiet") {
		report()
	}
	return err
}

// wait runs the owner and returns what it returns, unless a stop was
// asked for and the owner, stuck writing to a blocked output, cannot act
// on it.
func (lp *loop) wait(ctx context.Context, drain time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- lp.own(ctx, drain) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	again := make(chan os.Signal, 1)
	signal.Notify(again, StopSignals...)
	defer signal.Stop(again)
	deadline := time.NewTimer(drain + lockWait)
	defer deadline.Stop()
	select {
	case err := <-done:
		return err
	case <-deadline.C:
	case <-again:
		select {
		case err := <-done:
			return err
		case <-time.After(lockWait):
		}
	}
	return errors.New("stopped by signal while the output was blocked; records read since the last flush were not written")
}

// own is the owner: it hands chunks to the workers, handles them in
// input order, ticks and signals, and on every way out closes the
// processor and flushes what it wrote.
func (lp *loop) own(ctx context.Context, drain time.Duration) error {
	defer close(lp.work)
	var tick <-chan time.Time
	if t, ok := lp.proc.(Ticker); ok {
		ticker := time.NewTicker(t.TickEvery())
		defer ticker.Stop()
		tick = ticker.C
	}
	signalled := ctx.Done()
	var again chan os.Signal
	var timeout <-chan time.Time
	input := lp.chunks
	for {
		var head <-chan struct{}
		if len(lp.inFlight) > 0 {
			head = lp.inFlight[0].done
		} else if input == nil {
			if lp.readErr != nil {
				return lp.stop(fmt.Errorf("read: %w", lp.readErr))
			}
			return lp.finish(nil)
		}
		in := input
		if len(lp.inFlight) >= cap(lp.work) {
			in = nil
		}
		select {
		case c, ok := <-in:
			if !ok {
				input = nil
				continue
			}
			lp.dispatch(c)
		case <-head:
			if err := lp.handle(lp.next()); err != nil {
				return lp.stop(err)
			}
		case <-tick:
			err := lp.proc.(Ticker).Tick()
			if err == nil {
				err = lp.flush()
			}
			if err != nil {
				return lp.stop(err)
			}
		case <-signalled:
			signalled = nil
			if !lp.quiet {
				fmt.Fprintf(lp.errw, "%s: stopping: reading to the end of input, for %s at most (a second signal stops at once)\n", lp.name, drain)
			}
			again = make(chan os.Signal, 1)
			signal.Notify(again, StopSignals...)
			defer signal.Stop(again)
			timer := time.NewTimer(drain)
			defer timer.Stop()
			timeout = timer.C
		case <-timeout:
			return lp.interrupt(fmt.Errorf("stopped by signal before end of input (drain timeout %s); every record read was written", drain))
		case <-again:
			return lp.interrupt(errors.New("stopped by a second signal before end of input; every record read was written"))
		}
	}
}

// dispatch puts a chunk in flight: to a worker, or straight through.
func (lp *loop) dispatch(c *chunk) {
	lp.inFlight = append(lp.inFlight, c)
	if lp.workers > 0 && len(c.lines) > 0 {
		lp.work <- c // never blocks: no more are in flight than work holds
		return
	}
	close(c.done)
}

// next takes the oldest chunk in flight, once its workers are done.
func (lp *loop) next() *chunk {
	c := lp.inFlight[0]
	<-c.done
	lp.inFlight[0] = nil
	lp.inFlight = lp.inFlight[1:]
	return c
}

// interrupt stops after a signal: the chunks already read are handled
// first, so that nothing read is left out.
func (lp *loop) interrupt(why error) error {
	close(lp.quit)
	lp.queued(lp.dispatch)
	for len(lp.inFlight) > 0 {
		if err := lp.handle(lp.next()); err != nil {
			return lp.stop(err)
		}
	}
	return lp.finish(why)
}

// queued calls fn with each chunk the reader has handed over and the
// owner has not taken yet, without waiting for more.
func (lp *loop) queued(fn func(*chunk)) {
	for lp.chunks != nil {
		select {
		case c, ok := <-lp.chunks:
			if !ok {
				lp.chunks = nil
				return
			}
			fn(c)
		default:
			return
		}
	}
}

// finish closes the processor and flushes; why, if set, is still the error.
func (lp *loop) finish(why error) error {
	err := lp.closeProcessors()
	if err == nil {
		err = lp.flush()
	}
	if err != nil {
		return lp.stop(err)
	}
	return why
}

// stop ends the stage on an error that is not bad input: what was read
// and not handled is counted, the processor closed, the output and dead
// letter flushed, and records whose output did not get out are counted
// as unwritten.
func (lp *loop) stop(err error) error {
	select {
	case <-lp.quit:
	default:
		close(lp.quit)
	}
	for len(lp.inFlight) > 0 {
		lp.unhandled(len(lp.next().lines))
	}
	lp.queued(func(c *chunk) { lp.unhandled(len(c.lines)) })
	var kept int64
	if lp.commit != nil {
		kept = lp.commit.Kept() // before Close lets the journal go
	}
	lp.closeProcessors()
	if lp.dead != nil {
		lp.dead.Flush()
	}
	if lp.out.Flush() != nil {
		lost := len(lp.ends) - lp.delivered()
		lp.stats.Out.Add(int64(-lost))
		lp.stats.Unwritten.Add(int64(lost))
	}
	lp.ends = lp.ends[:0]
	if lp.commit != nil {
		// What the run did not commit, the next one reads and counts.
		lp.stats.set(lp.committed)
		if kept > 0 {
			err = fmt.Errorf("%w; %d records read are kept in the journal for the next run", err, kept)
		}
	}
	if ReaderGone(err) {
		if !lp.quiet {
			fmt.Fprintf(lp.errw, "%s: %s\n", lp.name, ReaderGoneNotice)
		}
		return nil
	}
	if n := lp.stats.Unwritten.Load(); n > 0 {
		err = fmt.Errorf("%w; %d records read were not written", err, n)
	}
	return err
}

// closeProcessors closes every processor once.
func (lp *loop) closeProcessors() error {
	if lp.proc != nil {
		proc := lp.proc
		lp.proc = nil
		return proc.Close()
	}
	var errs []error
	for _, wk := range lp.procs {
		// What a stateless processor writes at the end goes straight out.
		wk.cw.w = lp.out
		errs = append(errs, wk.proc.Close(), wk.w.Flush())
	}
	lp.procs = nil
	return errors.Join(errs...)
}

func (lp *loop) flush() error {
	if lp.dead != nil {
		if err := lp.dead.Flush(); err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
	}
	if err := lp.out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	lp.ends = lp.ends[:0]
	return nil
}

// handle handles the lines of a chunk in order, then commits and, when
// the input went idle after it, flushes.
func (lp *loop) handle(c *chunk) error {
	var err error
	switch {
	case lp.procs != nil:
		err = lp.writeChunk(c)
	default:
		err = lp.records(c)
	}
	if err != nil {
		return err
	}
	if lp.commit != nil {
		handled := lp.stats.counts()
		err := lp.commit.Commit(c.end)
		if err == nil || lp.commit.Committed() == c.end {
			lp.committed = handled
		}
		if err != nil {
			return err
		}
	}
	lp.bytesIn.Store(c.end)
	idle := c.idle
	c.recycle()
	if idle && len(lp.inFlight) == 0 && len(lp.chunks) == 0 {
		return lp.flush()
	}
	return nil
}

// records runs the processor over a chunk's lines (prepared, if workers
// prepared them).
func (lp *loop) records(c *chunk) error {
	prep := lp.prep
	if lp.prefetch != nil {
		if prep == nil { // one core: the chunk is prepared here, ahead
			prep = lp.prefetch
			prepare(c, prep)
		}
		lp.prefetch.Prefetch(c.values)
	}
	for i, l := range c.lines {
		lp.stats.In.Add(1)
		var emitted bool
		var err error
		if prep != nil {
			// The worker checked the line before it prepared it.
			if err = c.errs[i]; err == nil {
				emitted, err = prep.Process(c.values[i])
			} else {
				err = BadInput(err)
			}
		} else {
			var line []byte
			if line, err = c.valid(l); err == nil {
				emitted, err = lp.proc.Record(line)
			}
		}
		switch {
		case IsBadInput(err):
			if err := lp.bad(c.raw(l), &ndjson.LineError{Line: l.num, Err: err}); err != nil {
				lp.unhandled(len(c.lines) - i - 1)
				return err
			}
		case err != nil:
			lp.stats.Unwritten.Add(1)
			lp.unhandled(len(c.lines) - i - 1)
			return fmt.Errorf("line %d: %w", l.num, err)
		case emitted:
			lp.stats.Out.Add(1)
			lp.wrote(lp.written.N.Load() + int64(lp.out.Buffered()))
		default:
			lp.stats.Dropped.Add(1)
		}
	}
	return nil
}

// wrote notes where a record's output ends. Records whose output got out
// are let go once there are many, so that the list holds about what the
// output buffer does, however long the output goes without an explicit
// flush.
func (lp *loop) wrote(end int64) {
	if len(lp.ends) >= 4096 {
		lp.ends = append(lp.ends[:0], lp.ends[lp.delivered():]...)
	}
	lp.ends = append(lp.ends, end)
}

// delivered is how many of the records in ends got out: their output
// ends within what the output took.
func (lp *loop) delivered() int {
	n, _ := slices.BinarySearch(lp.ends, lp.written.N.Load()+1)
	return n
}

// unhandled counts lines read but not handled because the stage stops.
func (lp *loop) unhandled(n int) {
	lp.stats.In.Add(int64(n))
	lp.stats.Unwritten.Add(int64(n))
}

// bad counts and reports a rejected line and keeps it in the dead letter
// file; under --on-error fail it returns the error that stops the stage.
func (lp *loop) bad(line []byte, err *ndjson.LineError) error {
	lp.stats.Bad.Add(1)
	if lp.dead != nil && line != nil {
		lp.dead.Write(line)
		lp.dead.WriteByte('\n')
	}
	if lp.fail {
		return err
	}
	fmt.Fprintf(lp.errw, "%s: %s\n", lp.name, oneLine(err.Error()))
	return nil
}

// IgnoreSIGPIPE makes a write to a closed pipe an EPIPE error that the
// stage handles, where Go would otherwise die of the signal on stdout.
func IgnoreSIGPIPE() { signal.Ignore(syscall.SIGPIPE) }

// ReaderGoneNotice is the one line a stage prints (unless -q) when the
// reader of its output went away, as `| head` does: a normal end, exit 0.
const ReaderGoneNotice = "the reader of the output closed it (as | head does): stopped"

// ReaderGone reports whether err is a write to a pipe whose reader went
// away.
func ReaderGone(err error) bool { return errors.Is(err, syscall.EPIPE) }

// idleReader calls idle before every read that may block, so that what
// was read so far is handed on and a live stream is never held back.
type idleReader struct {
	r    io.Reader
	idle func()
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.idle()
	return r.r.Read(p)
}
