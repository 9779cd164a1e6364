package flowgen

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/stage"
)

// Run is the sky-genflows command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	app := stage.NewApp("sky-genflows", "print realistic, deterministic Skydive flows as NDJSON", stage.IO{In: in, Out: out, Err: errw})
	app.Flags = []cli.Flag{
		&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 1000, Usage: "how many `FLOWS`"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "the same `SEED` gives the same flows"},
		&cli.IntFlag{Name: "frames", Usage: "print analyzer frames of `N` flows each, for sky-flows --replay"},
		&cli.StringFlag{Name: "repeat", TakesFile: true,
			Usage: "instead, repeat the recorded flows of `FILE` (NDJSON) to --count, each pass with new UUIDs and later times"},
	}
	app.Before = stage.NoArgs
	app.Action = func(c *cli.Context) error {
		stage.IgnoreSIGPIPE()
		g := New(c.Uint64("seed"))
		var err error
		if file := c.String("repeat"); file != "" {
			recorded, rerr := os.ReadFile(file)
			if rerr != nil {
				return fmt.Errorf("--repeat: %w", rerr)
			}
			if err = Repeat(out, recorded, c.Int("count"), c.Int("frames")); err != nil && !stage.ReaderGone(err) {
				return fmt.Errorf("--repeat %s: %w", file, err)
			}
		} else if n := c.Int("frames"); n > 0 {
			err = g.WriteFrames(out, c.Int("count"), n)
		} else {
			err = g.Write(out, c.Int("count"))
		}
		if stage.ReaderGone(err) {
			return nil // | head: a normal end
		}
		return err
	}
	return stage.Execute(app, args)
}
