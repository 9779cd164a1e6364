package flows

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/skyflows/skyflows/lib/ndjson"
)

// replayFrames reads recorded frames, one per line: a bare frame (as in
// the fixtures) or "<epoch ms>\t<frame>" (as --record writes), paced by
// --rate or --realtime.
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
	var firstAt int64
	for ctx.Err() == nil {
		line, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		frame, at := line, time.Now()
		if tab := bytes.IndexByte(line, '\t'); tab > 0 && line[0] != '{' {
			ms, err := strconv.ParseInt(string(line[:tab]), 10, 64)
			if err != nil {
				return fmt.Errorf("replay: line %d: bad time %q", r.Line(), line[:tab])
			}
			frame, at = line[tab+1:], time.UnixMilli(ms)
			if firstAt == 0 {
				firstAt = ms
			}
			if s.cfg.realtime {
				sleep(ctx, time.Until(start.Add(time.Duration(ms-firstAt)*time.Millisecond)))
			}
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
