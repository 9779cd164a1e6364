package analyzertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/stage"
)

// RunSim is the sky-analyzer-sim command: a test analyzer that publishes
// generated flows, or the flows of recorded frames, to its subscribers, to
// try and benchmark sky-flows without a Skydive cluster.
func RunSim(args []string, in io.Reader, out, errw io.Writer) int {
	app := stage.NewApp("sky-analyzer-sim", "serve the Skydive flow API with generated or recorded flows", stage.IO{In: in, Out: out, Err: errw})
	app.Flags = []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8082", Usage: "listen on `ADDR`"},
		&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 100000, Usage: "publish `N` generated flows (the first 10000, round and round)"},
		&cli.StringFlag{Name: "frames", TakesFile: true, Usage: "publish the flows of the recorded frames in `FILE` instead"},
		&cli.Float64Flag{Name: "rate", Usage: "publish at `FLOWS` per second", DefaultText: "as fast as the subscriber takes them"},
		&cli.StringFlag{Name: "topology", TakesFile: true, Usage: "serve the topology of the recorded subscription frames in `FILE` (the sync and the changes after it) at /ws/subscriber"},
		&cli.IntFlag{Name: "subscribers", Value: 1, Usage: "wait for `N` flow subscribers before publishing"},
		&cli.StringFlag{Name: "username", EnvVars: []string{"SKY_ANALYZER_USERNAME"}, Usage: "require basic auth with `USER`"},
		&cli.StringFlag{Name: "password", EnvVars: []string{"SKY_ANALYZER_PASSWORD"}, Usage: "and `PASSWORD`"},
		&cli.BoolFlag{Name: "exit", Usage: "exit once everything is sent, instead of serving until a signal"},
	}
	app.Before = stage.NoArgs
	app.Action = func(c *cli.Context) error {
		srv, err := Start(Config{Addr: c.String("listen"), Username: c.String("username"), Password: c.String("password"), Block: c.Float64("rate") == 0})
		if err != nil {
			return err
		}
		defer srv.Stop()
		if path := c.String("topology"); path != "" {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			err = srv.LoadTopology(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("--topology: %w", err)
			}
		}
		fmt.Fprintf(errw, "sky-analyzer-sim: serving %s\n", srv.URL())
		if err := waitSubs(c.Context, srv, c.Int("subscribers")); err != nil {
			return err
		}
		next, err := source(c.String("frames"), c.Int("count"))
		if err != nil {
			return err
		}
		start, sent := time.Now(), 0
		for batch := next(); len(batch) > 0 && c.Context.Err() == nil; batch = next() {
			srv.Publish(batch...)
			sent += len(batch)
			if r := c.Float64("rate"); r > 0 {
				if d := time.Until(start.Add(time.Duration(float64(sent) / r * float64(time.Second)))); d > 0 {
					time.Sleep(d)
				}
			}
		}
		srv.Flush()
		st := srv.Stats()
		fmt.Fprintf(errw, "sky-analyzer-sim: sent %d flows in %s, %d messages dropped by full queues\n", st.SentFlows, time.Since(start).Round(time.Millisecond), st.Dropped)
		if !c.Bool("exit") {
			<-c.Context.Done()
		}
		return nil
	}
	return stage.Execute(app, args)
}

func waitSubs(ctx context.Context, srv *Server, n int) error {
	for srv.FlowSubscribers() < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

const poolSize = 10000

// source returns a function that gives the next batch of at most 100
// flows: n generated ones, or those of recorded frames; nil at the end.
func source(frames string, n int) (func() [][]byte, error) {
	if frames == "" {
		// A pool of generated flows, sent round and round: generating
		// would be slower than sky-flows.
		var buf bytes.Buffer
		if err := flowgen.New(1).Write(&buf, min(n, poolSize)); err != nil {
			return nil, err
		}
		pool := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
		i := 0
		return func() [][]byte {
			k := min(n, 100, len(pool)-i)
			n -= k
			batch := pool[i : i+k]
			i = (i + k) % len(pool)
			return batch
		}, nil
	}
	f, err := os.Open(frames)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var flows [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		frame, _, _, err := analyzer.SplitRecord(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", frames, err)
		}
		flows = append(flows, frameFlows(bytes.Clone(frame))...)
	}
	return func() [][]byte {
		batch := flows[:min(100, len(flows))]
		flows = flows[len(batch):]
		return batch
	}, sc.Err()
}
