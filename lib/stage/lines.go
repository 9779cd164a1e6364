package stage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/ndjson"
)

// Processor handles the records of a line stage.
type Processor interface {
	// Record handles one input line. It writes what it emits to the output
	// given to Open and reports whether it emitted anything; an error marks
	// the line as bad input and must come before any output for that line,
	// but a RuntimeError stops the stage.
	Record(line []byte) (emitted bool, err error)
	// Close finishes the output at the end of input.
	Close() error
}

// Preparer is a Processor whose lines are decoded ahead, several at once
// on every core, by Prepare, which must be safe for concurrent use;
// Process then handles the decoded values in input order. Record is
// Prepare then Process.
type Preparer interface {
	Processor
	Prepare(line []byte) (any, error)
	Process(v any) (emitted bool, err error)
}

// Ticker is a Processor that also has work to do on a clock (closing
// objects by age): Tick is called every TickEvery while input is idle or
// between records, never at the same time as Record.
type Ticker interface {
	Processor
	TickEvery() time.Duration
	Tick() error
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
	// Open builds the processor from the parsed flags, writing to out.
	// Its errors are usage errors.
	Open func(c *cli.Context, out *bufio.Writer) (Processor, error)
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
	return []cli.Flag{
		&cli.StringFlag{Name: "on-error", Value: OnErrorSkip, EnvVars: []string{"SKY_ON_ERROR"},
			Usage: "what a bad input line does: `MODE` skip (report it and go on) or fail (stop with exit 1)"},
		&cli.StringFlag{Name: "dead-letter", EnvVars: []string{"SKY_DEAD_LETTER"}, TakesFile: true,
			Usage: "append each rejected input line, verbatim, to `FILE`"},
		&cli.DurationFlag{Name: "stats-interval", EnvVars: []string{"SKY_STATS_INTERVAL"},
			Usage: "also print stats to stderr every `DURATION` (0: only at exit)"},
		&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second, EnvVars: []string{"SKY_DRAIN_TIMEOUT"},
			Usage: "after SIGINT or SIGTERM, keep reading to end of input for at most `DURATION`, then stop with exit 1"},
		&cli.IntFlag{Name: "max-line-bytes", Value: ndjson.DefaultMaxLine, EnvVars: []string{"SKY_MAX_LINE_BYTES"},
			Usage: "reject input lines longer than `N` bytes"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"SKY_QUIET"},
			Usage: "do not print stats at exit"},
	}
}

// Run runs the stage with args and streams and returns the exit code.
func (l Lines) Run(args []string, in io.Reader, out, errw io.Writer) int {
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
	return Execute(app, args)
}

// loop is the state of one run of a line stage.
type loop struct {
	name   string
	errw   io.Writer
	fail   bool
	stats  Stats
	out    *bufio.Writer
	dead   *bufio.Writer
	proc   Processor // serial
	par    *parallel // or parallel
	reader *ndjson.Reader
	// mu is held by the reading goroutine but while it waits for input.
	mu sync.Mutex
	// closed is set, under mu, once the processor is closed.
	closed bool
	// tickErr is an error of Tick, which stops the stage.
	tickErr atomic.Pointer[error]
}

func (l Lines) run(c *cli.Context, in io.Reader, out, errw io.Writer) error {
	policy := c.String("on-error")
	if policy != OnErrorSkip && policy != OnErrorFail {
		return Usagef("--on-error: want skip or fail, got %q", policy)
	}
	GrowPipe(out)
	w := bufio.NewWriterSize(out, writeBuffer)
	lp := &loop{name: l.Name, errw: errw, fail: policy == OnErrorFail, out: w}
	open := func(w *bufio.Writer) (Processor, error) {
		proc, err := l.Open(c, w)
		var usage *UsageError
		var runtime *RuntimeError
		if err != nil && !errors.As(err, &usage) && !errors.As(err, &runtime) {
			err = &UsageError{Err: err}
		}
		return proc, err
	}
	idle := lp.flush
	if workers := runtime.GOMAXPROCS(0); l.Parallel && workers > 1 {
		par, err := newParallel(lp, workers, open)
		if err != nil {
			return err
		}
		lp.par, idle = par, par.dispatch
	} else {
		proc, err := open(w)
		if err != nil {
			return err
		}
		lp.proc = proc
		if prep, ok := proc.(Preparer); ok && workers > 1 {
			lp.par = newPrepared(lp, workers, prep)
			idle = lp.par.dispatch
		}
	}
	if path := c.String("dead-letter"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		defer f.Close()
		lp.dead = bufio.NewWriter(f)
	}

	lp.mu.Lock()
	lp.reader = ndjson.NewReader(&idleReader{r: in, mu: &lp.mu, flush: idle}, readBuffer, c.Int("max-line-bytes"))

	done := make(chan error, 1)
	go func() { done <- lp.run() }()
	statsDone := make(chan struct{})
	defer close(statsDone)
	go lp.stats.Report(errw, l.Name, c.Duration("stats-interval"), statsDone)
	if t, ok := lp.proc.(Ticker); ok {
		go Every(t.TickEvery(), statsDone, func() { lp.tick(t) })
	}

	err := lp.wait(c, done)
	if !c.Bool("quiet") {
		fmt.Fprintf(errw, "%s: stats: %s\n", l.Name, &lp.stats)
	}
	return err
}

// wait returns when the input ends or, after a signal, when the drain
// timeout or a second signal says to stop.
func (lp *loop) wait(c *cli.Context, done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-c.Context.Done():
	}
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	timeout := c.Duration("drain-timeout")
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	case <-again:
	}
	// The reading goroutine releases mu only while it waits for input,
	// after flushing (or handing to the workers) everything it read.
	locked := make(chan struct{})
	go func() {
		lp.mu.Lock()
		for lp.par != nil && !lp.par.drained() {
			time.Sleep(time.Millisecond)
		}
		close(locked)
	}()
	select {
	case <-locked:
		// The reader waits for input: finish what was read (a batching
		// stage closes its objects).
		if lp.par == nil {
			if err := errors.Join(lp.close(), lp.flush()); err != nil {
				return err
			}
		}
		return fmt.Errorf("stopped by signal before end of input (drain timeout %s); all records read so far were written", timeout)
	case <-time.After(lockWait):
		return fmt.Errorf("stopped by signal while output was blocked; up to %d buffered bytes not written", lp.out.Buffered())
	}
}

// Flusher is a Processor with buffers of its own to write out whenever
// the input goes idle (journals).
type Flusher interface {
	Flush() error
}

func (lp *loop) flush() error {
	if f, ok := lp.proc.(Flusher); ok && !lp.closed {
		if err := f.Flush(); err != nil {
			return err
		}
	}
	if lp.dead != nil {
		if err := lp.dead.Flush(); err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
	}
	if err := lp.out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// tick runs the processor's clock work between records.
func (lp *loop) tick(t Ticker) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.closed {
		return
	}
	err := t.Tick()
	if err == nil {
		err = lp.flush()
	}
	if err != nil {
		lp.tickErr.Store(&err)
	}
}

// close closes the processor once; the caller holds mu.
func (lp *loop) close() error {
	if lp.closed {
		return nil
	}
	lp.closed = true
	return lp.proc.Close()
}

// run reads to the end of input; whatever happens, what was written is flushed.
func (lp *loop) run() error {
	if lp.par != nil {
		err := lp.par.run()
		if ferr := lp.flush(); err == nil {
			err = ferr
		}
		return err
	}
	defer lp.mu.Unlock()
	err := lp.records()
	if ferr := lp.flush(); err == nil {
		err = ferr
	}
	return err
}

var errInvalidUTF8 = errors.New("decode: invalid UTF-8")

func (lp *loop) records() error {
	for {
		line, err := lp.reader.Next()
		if err == io.EOF {
			break
		}
		if tickErr := lp.tickErr.Load(); tickErr != nil {
			return *tickErr
		}
		if err != nil {
			var lineErr *ndjson.LineError
			if !errors.As(err, &lineErr) {
				return err
			}
			lp.stats.In.Add(1)
			if err := lp.bad(nil, lineErr); err != nil {
				return err
			}
			continue
		}
		lp.stats.In.Add(1)
		var emitted bool
		if !utf8.Valid(line) {
			err = errInvalidUTF8
		} else {
			emitted, err = lp.proc.Record(line)
		}
		var runtime *RuntimeError
		switch {
		case errors.As(err, &runtime):
			return err
		case err != nil:
			if err := lp.bad(line, &ndjson.LineError{Line: lp.reader.Line(), Err: err}); err != nil {
				return err
			}
		case emitted:
			lp.stats.Out.Add(1)
		default:
			lp.stats.Dropped.Add(1)
		}
	}
	if tickErr := lp.tickErr.Load(); tickErr != nil {
		return *tickErr
	}
	return lp.close()
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

// idleReader flushes the output before every read that may block, so a live
// stream is never held back, and releases mu while it waits for input.
type idleReader struct {
	r     io.Reader
	mu    *sync.Mutex
	flush func() error
}

func (r *idleReader) Read(p []byte) (int, error) {
	if err := r.flush(); err != nil {
		return 0, err
	}
	r.mu.Unlock()
	defer r.mu.Lock()
	return r.r.Read(p)
}
