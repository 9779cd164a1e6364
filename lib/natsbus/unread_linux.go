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
