package stage

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Stats counts the records of a stage: every record in is either out,
// dropped (by the stage's purpose), bad (rejected input) or, when the
// stage stopped on an error, unwritten (read, but not written out).
type Stats struct {
	In, Out, Dropped, Bad, Unwritten atomic.Int64
}

func (s *Stats) String() string {
	line := fmt.Sprintf("in %d out %d dropped %d bad %d", s.In.Load(), s.Out.Load(), s.Dropped.Load(), s.Bad.Load())
	if n := s.Unwritten.Load(); n > 0 {
		line += fmt.Sprintf(" unwritten %d", n)
	}
	return line
}

// Terminal reports whether w is a terminal (a person reads it).
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Rate says how long a stage has run and how many records a second it
// took in: "elapsed 2.5s rate 1200/s".
func Rate(records int64, elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(records) / elapsed.Seconds()
	}
	return fmt.Sprintf("elapsed %s rate %.0f/s", elapsed.Round(time.Millisecond), rate)
}

// Backoff is the wait before retry attempt n (from 0): exponential from
// half a second, bounded by max, with full jitter over its upper half.
func Backoff(n int, max time.Duration) time.Duration {
	d := 500 * time.Millisecond << min(n, 20)
	if d > max || d <= 0 {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// Every calls fn every interval (never if it is not positive) until done
// is closed.
func Every(interval time.Duration, done <-chan struct{}, fn func()) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fn()
		}
	}
}
