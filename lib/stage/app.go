// Package stage holds the command-line plumbing every skyflows stage shares:
// flags, exit codes, signals, the bad-input policy and stats.
//
// A line stage (Lines) runs three kinds of goroutine that hand chunks of
// input lines along:
//   - the reader (loop.read) cuts stdin into chunks of whole lines and
//     sends each on chunks; on a quiet input it sends an idle chunk, so
//     that time-driven work happens without input;
//   - the owner (loop.own) takes each chunk, puts it in flight (inFlight,
//     in input order) and, with workers, on work; it alone touches the
//     processor: it handles the oldest chunk in flight once its workers
//     are done (chunk.done), ticks, commits, and stops on a signal after
//     the chunks already read;
//   - the workers (loop.prepare), one a core, take chunks from work and
//     prepare their lines (a Preparer), or run a Parallel stage's own
//     processor on them, writing into the chunk; then close chunk.done.
//
// Output keeps the input's order, as the owner writes chunks in order.
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes shared by every stage.
const (
	ExitOK    = 0 // success
	ExitError = 1 // runtime or data error
	ExitUsage = 2 // bad flags or arguments
)

// Version is stamped at build time with -ldflags "-X ...stage.Version=v".
var Version = "dev"

// An error says its exit code by an ExitCode method (UsageError: 2);
// any other error exits 1.

// UsageError is an error in how the command was called: its flags,
// arguments or SKY_* variables. Made by Usagef and Usage alone.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode is ExitUsage.
func (e *UsageError) ExitCode() int { return ExitUsage }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// Usage marks err, if any, as a UsageError.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// IO is the set of streams a stage runs with.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// NewApp returns a cli.App wired to the given streams that never exits the
// process itself and turns flag errors into UsageErrors.
func NewApp(name, usage string, streams IO) *cli.App {
	return &cli.App{
		Name:            name,
		Usage:           usage,
		Version:         Version,
		Reader:          streams.In,
		Writer:          streams.Out,
		ErrWriter:       streams.Err,
		HideHelpCommand: true,
		// --generate-bash-completion lists the flags, for scripts/completion.bash.
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
				err = fmt.Errorf("unknown flag --%s", strings.TrimPrefix(name, "-"))
			}
			return &UsageError{Err: err}
		},
	}
}

// StopSignals stop a stage the same way: it drains, reports and exits. A
// hang-up (the terminal or ssh session of a pipeline closed) is one too,
// so that nothing handed over is lost with the session.
var StopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// Execute runs app with args under a context cancelled by a stop signal,
// prints any error as one line prefixed with the program name and returns
// the exit code.
func Execute(app *cli.App, args []string) int {
	return ExecuteContext(context.Background(), app, args)
}

// ExecuteContext is Execute under a parent context, which tests cancel
// in place of a signal.
func ExecuteContext(parent context.Context, app *cli.App, args []string) int {
	if path := os.Getenv("SKY_CPUPROFILE"); path != "" {
		defer profile(fmt.Sprintf("%s.%s.%d", path, app.Name, os.Getpid()))()
	}
	ownHelpAndVersion(app)
	// An error before the app's own code ran is urfave/cli's, from the
	// flags or the SKY_* variables: a usage error.
	ran := false
	before := app.Before
	app.Before = func(c *cli.Context) error {
		ran = true
		if before != nil {
			return before(c)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(parent, StopSignals...)
	defer stop()
	err := app.RunContext(ctx, args)
	if err == nil {
		return ExitOK
	}
	code := ExitError
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		code = coded.ExitCode()
	} else if !ran {
		code = ExitUsage
	}
	if err.Error() == "" { // cli.Exit("", code): said already
		return code
	}
	fmt.Fprintf(app.ErrWriter, "%s: %s\n", app.Name, oneLine(err.Error()))
	if code == ExitUsage {
		fmt.Fprintf(app.ErrWriter, "%s: see '%s --help'\n", app.Name, app.Name)
	}
	return code
}

// profile writes a CPU profile of the run to path (SKY_CPUPROFILE=PREFIX
// profiles every stage of a pipeline, each to PREFIX.NAME.PID).
func profile(path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// ownHelpAndVersion gives app --help and --version flags of its own in
// place of urfave/cli's package-level ones, which apps running at once in
// one process (the tests) would share.
func ownHelpAndVersion(app *cli.App) {
	app.HideHelp, app.HideVersion = true, true
	app.Flags = append(app.Flags,
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"},
		&cli.BoolFlag{Name: "version", Usage: "print the version"},
		&cli.BoolFlag{Name: "man", Hidden: true, Usage: "print the manual page (make install installs them)"})
	before, action := app.Before, app.Action
	app.Before = nil
	app.Action = func(c *cli.Context) error {
		switch {
		case c.Bool("help"):
			return cli.ShowAppHelp(c)
		case c.Bool("version"):
			cli.ShowVersion(c)
			return nil
		case c.Bool("man"):
			page, err := app.ToManWithSection(1)
			if err == nil {
				_, err = io.WriteString(app.Writer, page)
			}
			return err
		}
		if before != nil {
			if err := before(c); err != nil {
				return err
			}
		}
		return action(c)
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// NoArgs is a cli.BeforeFunc-compatible check that refuses positional arguments.
func NoArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return Usagef("unexpected argument %q", c.Args().First())
	}
	return nil
}
