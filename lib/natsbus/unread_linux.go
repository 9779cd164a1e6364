package natsbus

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// unreadOf tells how many bytes written to out a pipe still holds
// (FIONREAD, which Linux answers on either end); for anything else, none
// once written.
func unreadOf(out io.Writer) func() int {
	f, ok := out.(*os.File)
	if !ok {
		return func() int { return 0 }
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return func() int { return 0 }
	}
	fd := int(f.Fd())
	return func() int {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
		if err != nil {
			return 0
		}
		return n
	}
}

// readerGoneOf tells whether the reader of a pipe out closed its end,
// seen without writing (POLLERR on the write end), so that an idle
// consume notices it; false for anything else.
func readerGoneOf(out io.Writer) func() bool {
	f, ok := out.(*os.File)
	if !ok {
		return func() bool { return false }
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return func() bool { return false }
	}
	fd := int32(f.Fd())
	return func() bool {
		fds := []unix.PollFd{{Fd: fd}}
		n, err := unix.Poll(fds, 0)
		return err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0
	}
}
