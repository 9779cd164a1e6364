// Package flows is the sky-flows command: it subscribes to a Skydive
// Analyzer's flow API, or replays recorded frames, and prints one flow per
// line. Reading the socket never waits for stdout: flows queue in memory,
// then on disk, so the analyzer is never stalled.
package flows

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/backlog"
	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/stage"
)

const name = "sky-flows"

// Run is the sky-flows command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	return RunContext(context.Background(), args, in, out, errw)
}

// RunContext is Run until ctx is done, which acts as a signal does.
func RunContext(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	app := stage.NewApp(name, "print the flows of a Skydive Analyzer, one per line", stage.IO{In: in, Out: out, Err: errw})
	app.Flags = flags()
	app.Before = stage.NoArgs
	app.Action = func(c *cli.Context) error {
		cfg, err := configure(c)
		if err != nil {
			return err
		}
		return run(c, cfg, in, out, errw)
	}
	return stage.ExecuteContext(ctx, app, args)
}

func flags() []cli.Flag {
	return append(append([]cli.Flag{
		&cli.StringSliceFlag{Name: "analyzer", Aliases: []string{"a"}, Value: cli.NewStringSlice("ws://127.0.0.1:8082"), EnvVars: []string{"SKY_ANALYZER"},
			Usage: "analyzer `URL` (ws://, wss://, host:port; path " + analyzer.DefaultPath + " by default); repeat it to hear every analyzer of a cluster at once (each sends only its own agents' flows)"},
		&cli.BoolFlag{Name: "failover", EnvVars: []string{"SKY_FAILOVER"}, Usage: "the --analyzer addresses front one and the same analyzer: follow one at a time, the next when it fails"},
		&cli.StringFlag{Name: "capture-id", EnvVars: []string{"SKY_CAPTURE_ID"}, Usage: "subscribe to the flows of one capture `ID` only (namespace flow/ID)"},
		&cli.StringFlag{Name: "host-id", EnvVars: []string{"SKY_ANALYZER_HOST_ID"}, Usage: "the X-Host-ID to subscribe with (default: HOSTNAME-sky-flows-PID, unique per process)"},
		&cli.StringFlag{Name: "client-type", Value: "skyflows", EnvVars: []string{"SKY_CLIENT_TYPE"}, Usage: "the X-Client-Type to subscribe with"},
		&cli.DurationFlag{Name: "read-timeout", Value: 15 * time.Second, EnvVars: []string{"SKY_READ_TIMEOUT"}, Usage: "reconnect when nothing, pings included, came for `DURATION`"},
		&cli.DurationFlag{Name: "idle-reconnect", Value: 5 * time.Minute, EnvVars: []string{"SKY_IDLE_RECONNECT"}, Usage: "reconnect when no flow frame came for `DURATION` (works around the analyzer's namespace defect; 0: never)"},
		&cli.IntFlag{Name: "max-retries", EnvVars: []string{"SKY_MAX_RETRIES"}, Usage: "give up after `N` failed connection attempts in a row (0: never)"},
		&cli.DurationFlag{Name: "max-backoff", Value: 30 * time.Second, EnvVars: []string{"SKY_MAX_BACKOFF"}, Usage: "longest wait between reconnection attempts"},
		&cli.IntFlag{Name: "buffer-size", Value: 16 << 20, EnvVars: []string{"SKY_BUFFER_SIZE"}, Usage: "`BYTES` of flows held in memory while stdout is slower than the analyzer"},
		&cli.StringFlag{Name: "buffer-dir", EnvVars: []string{"SKY_BUFFER_DIR"}, Usage: "spill to `DIR` past the memory buffer; kept across restarts (default: a private temporary directory)"},
		&cli.Int64Flag{Name: "buffer-disk-size", Value: 1 << 30, EnvVars: []string{"SKY_BUFFER_DISK_SIZE"}, Usage: "`BYTES` of flows held on disk; past memory and disk, flows are dropped and counted"},
		&cli.StringFlag{Name: "record", EnvVars: []string{"SKY_RECORD"}, TakesFile: true, Usage: "append every frame received, with its time, to `FILE`"},
		&cli.StringFlag{Name: "replay", EnvVars: []string{"SKY_REPLAY"}, TakesFile: true, Usage: "read recorded frames from `FILE` (- for stdin) instead of connecting"},
		&cli.Float64Flag{Name: "rate", EnvVars: []string{"SKY_REPLAY_RATE"}, Usage: "replay at `FLOWS` per second", DefaultText: "as fast as possible"},
		&cli.BoolFlag{Name: "realtime", EnvVars: []string{"SKY_REPLAY_REALTIME"}, Usage: "replay with the recorded timing"},
		&cli.Int64Flag{Name: "count", Aliases: []string{"c"}, EnvVars: []string{"SKY_FLOWS_COUNT"}, Usage: "stop after `N` flows: put them out and exit 0 (0: no limit)"},
		&cli.DurationFlag{Name: "for", EnvVars: []string{"SKY_FLOWS_FOR"}, Usage: "stop after `DURATION`: put out every flow received and exit 0 (0: no limit)"},
		&cli.StringFlag{Name: "dead-letter", EnvVars: []string{"SKY_DEAD_LETTER"}, TakesFile: true, Usage: "append each frame that carries no flows, verbatim, to `FILE`"},
		&cli.DurationFlag{Name: "stats-interval", EnvVars: []string{"SKY_STATS_INTERVAL"}, Usage: "also print stats every `DURATION`"},
		&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second, EnvVars: []string{"SKY_DRAIN_TIMEOUT"}, Usage: "after SIGINT, SIGTERM or SIGHUP, wait at most `DURATION` for stdout to take the buffered flows"},
		stage.QuietFlag(),
	}, analyzer.ClientFlags()...), metrics.Flags()...)
}

// config is the parsed command line.
type config struct {
	urls          []*url.URL
	opts          analyzer.Options
	readTimeout   time.Duration
	idleReconnect time.Duration
	maxRetries    int
	maxBackoff    time.Duration
	bufferSize    int
	bufferDir     string
	bufferDisk    int64
	record        string
	replay        string
	rate          float64
	realtime      bool
	deadLetter    string
	statsInterval time.Duration
	drainTimeout  time.Duration
	quiet         bool
	failover      bool
	count         int64         // flows to put out, or 0
	runFor        time.Duration // how long to run, or 0
}

func configure(c *cli.Context) (*config, error) {
	cfg := &config{
		readTimeout: c.Duration("read-timeout"), idleReconnect: c.Duration("idle-reconnect"),
		maxRetries: c.Int("max-retries"), maxBackoff: c.Duration("max-backoff"),
		bufferSize: c.Int("buffer-size"), bufferDir: c.String("buffer-dir"), bufferDisk: c.Int64("buffer-disk-size"),
		record: c.String("record"), replay: c.String("replay"), rate: c.Float64("rate"), realtime: c.Bool("realtime"),
		deadLetter: c.String("dead-letter"), statsInterval: c.Duration("stats-interval"),
		drainTimeout: c.Duration("drain-timeout"), quiet: c.Bool("quiet"), failover: c.Bool("failover"),
		count: c.Int64("count"), runFor: c.Duration("for"),
	}
	cfg.opts = analyzer.Options{
		HostID: c.String("host-id"), ClientType: c.String("client-type"), CaptureID: c.String("capture-id"),
		Timeout: 10 * time.Second,
	}
	if cfg.opts.HostID == "" {
		cfg.opts.HostID = analyzer.DefaultHostID(name)
	}
	var err error
	if cfg.urls, err = analyzer.Endpoints(c.StringSlice("analyzer")); err != nil {
		return nil, stage.Usagef("%v", err)
	}
	if cfg.readTimeout <= 0 || cfg.bufferSize <= 0 || cfg.maxBackoff <= 0 {
		return nil, stage.Usagef("--read-timeout, --buffer-size and --max-backoff must be positive")
	}
	if cfg.count < 0 || cfg.runFor < 0 {
		return nil, stage.Usagef("--count and --for must not be negative")
	}
	if cfg.rate < 0 || (cfg.rate > 0 && cfg.realtime) {
		return nil, stage.Usagef("--rate must be positive and goes without --realtime")
	}
	if cfg.replay == "" && (cfg.rate > 0 || cfg.realtime) {
		return nil, stage.Usagef("--rate and --realtime go with --replay")
	}
	if err := analyzer.FromFlags(c, &cfg.opts); err != nil {
		return nil, stage.Usagef("%v", err)
	}
	return cfg, nil
}

// newQueue makes the buffer between the socket and stdout: memory, then
// disk in --buffer-dir or a private temporary directory.
func newQueue(cfg *config) (*backlog.Queue, func(), error) {
	dir, private := cfg.bufferDir, false
	if dir == "" && cfg.replay == "" {
		tmp, err := os.MkdirTemp("", "sky-flows-buffer-")
		if err != nil {
			return nil, nil, fmt.Errorf("buffer: %w", err)
		}
		dir, private = tmp, true
	}
	q, err := backlog.New(cfg.bufferSize, dir, cfg.bufferDisk)
	if err != nil {
		return nil, nil, err
	}
	return q, func() {
		q.Release()
		if private {
			os.RemoveAll(dir)
		}
	}, nil
}
