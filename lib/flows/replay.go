package flows

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/ndjson"
)

// replayFrames reads a recording (analyzer.SplitRecord), paced by --rate
// or --realtime.
func (s *source) replayFrames(ctx context.Context, stdin io.Reader) error {
	in := stdin
	if s.cfg.replay != "-" {
		f, err := os.Open(s.cfg.replay)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		in = f
	}
	r := ndjson.NewReader(in, 256<<10, 0)
	start := time.Now()
	var first time.Time
	for ctx.Err() == nil {
		line, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		frame, at, timed, err := analyzer.SplitRecord(line)
		if err != nil {
			return fmt.Errorf("replay: line %d: %w", r.Line(), err)
		}
		if !timed {
			at = time.Now()
		} else if first.IsZero() {
			first = at
		}
		if timed && s.cfg.realtime {
			sleep(ctx, time.Until(start.Add(at.Sub(first))))
		}
		s.frame(frame, at, true)
		if s.cfg.rate > 0 {
			due := start.Add(time.Duration(float64(s.in.Load()) / s.cfg.rate * float64(time.Second)))
			sleep(ctx, time.Until(due))
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
