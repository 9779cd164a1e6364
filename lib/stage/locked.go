package stage

import (
	"io"
	"sync"
)

// LockedWriter serialises writes to W from several goroutines: a stage
// whose own goroutines report (workers, a subscription) writes stderr
// through one, so that lines never interleave. Mu also guards a reader
// of what W holds.
type LockedWriter struct {
	Mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.W.Write(p)
}
