package stage

import (
	"io"
	"os"
	"syscall"
)

// pipeSize is the buffer asked of the kernel for a stage's output pipe:
// larger than the default 64 KiB, so that stages chained by pipes wake
// each other up less often.
const pipeSize = 1 << 20

// fSetPipeSize is F_SETPIPE_SZ.
const fSetPipeSize = 1031

// GrowPipe enlarges w's pipe buffer if w is a pipe; failing that, nothing
// changes (an unprivileged user may be capped by /proc/sys/fs/pipe-max-size).
func GrowPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSize, pipeSize)
}
