package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The input journal, open/input, holds every byte sky-batch reads, written
// (not fsynced) before any of its records is handled, so that kill -9 at
// any moment loses nothing that left the input. Its header says how much
// of it was committed: handled, the records in the objects' journals, up
// to and including the chunk of that sequence number. A run reads the
// uncommitted rest of an earlier run's journal before its own input.
const (
	inputJournal = "input"
	headerSize   = 16 // the last committed sequence number, then the offset committed
	// rotateAt is the size past which a journal whose bytes are all but
	// a line's worth committed starts over.
	rotateAt = 64 << 20
	// reserveStep is how much disk the journal reserves at a time.
	reserveStep = 1 << 20
)

// journal is the input journal: an io.Reader over the input that writes
// through, and the commits.
type journal struct {
	path string
	in   io.Reader
	// replay is an earlier run's uncommitted input, read first; it is
	// in the file already.
	replay io.ReadCloser

	mu       sync.Mutex // between the reading goroutine and commits
	f        *os.File
	size     int64 // bytes of input in f
	reserved int64 // bytes of disk reserved past the header
	base     int64 // the input offset of f's first byte
	seq      int64 // the last sequence number committed
}

// openJournal opens the spool's input journal. The uncommitted input of
// an earlier run is kept, alone, in a new journal that is read first;
// seq is the last sequence number it committed, or -1 for a spool
// without a journal (every object journal line counts).
func openJournal(dir string) (*journal, error) {
	j := &journal{path: filepath.Join(dir, openDir, inputJournal), seq: -1}
	var tail []byte
	old, err := os.ReadFile(j.path)
	fresh := errors.Is(err, os.ErrNotExist)
	switch {
	case fresh:
	case err != nil:
		return nil, fmt.Errorf("spool: %w", err)
	case len(old) >= headerSize:
		j.seq = int64(binary.BigEndian.Uint64(old))
		committed := int64(binary.BigEndian.Uint64(old[8:]))
		data := old[headerSize:]
		tail = data[min(committed, int64(len(data))):]
	default:
		j.seq = 0
	}
	j.seq = max(j.seq, 0)
	// The tail alone in a new file, renamed over the old one.
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, append(j.header(0), tail...), 0o644); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if j.f, err = os.OpenFile(j.path, os.O_RDWR, 0); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	j.size = int64(len(tail))
	if len(tail) > 0 {
		// A file of its own: a commit may start the journal over.
		r, err := os.Open(j.path)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		j.replay = &closingReader{io.NewSectionReader(r, headerSize, j.size), r}
	}
	if fresh {
		j.seq = -1
	}
	return j, nil
}

func (j *journal) header(committed int64) []byte {
	h := binary.BigEndian.AppendUint64(nil, uint64(max(j.seq, 0)))
	return binary.BigEndian.AppendUint64(h, uint64(committed))
}

// Read reads the earlier run's rest, then the input. Disk for what it
// reads is reserved before it reads: a full disk stops the stage before
// it takes input it could not keep.
func (j *journal) Read(p []byte) (int, error) {
	if j.replay != nil {
		n, err := j.replay.Read(p)
		if err != io.EOF {
			return n, err
		}
		j.replay.Close()
		j.replay = nil
	}
	if err := j.reserve(int64(len(p))); err != nil {
		return 0, err
	}
	n, err := j.in.Read(p)
	if n > 0 {
		j.mu.Lock()
		_, werr := j.f.WriteAt(p[:n], headerSize+j.size)
		j.size += int64(n)
		j.mu.Unlock()
		if werr != nil {
			return 0, fmt.Errorf("spool: input journal: %w", werr)
		}
	}
	return n, err
}

// reserve makes sure n more bytes fit in the journal's file.
func (j *journal) reserve(n int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.size+n <= j.reserved {
		return nil
	}
	grow := max(n, reserveStep)
	err := syscall.Fallocate(int(j.f.Fd()), 1 /* FALLOC_FL_KEEP_SIZE */, headerSize+j.size, grow)
	if errors.Is(err, syscall.ENOSPC) && grow > n {
		grow = n
		err = syscall.Fallocate(int(j.f.Fd()), 1, headerSize+j.size, grow)
	}
	if err != nil && !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
		return fmt.Errorf("spool: input journal: %w", err)
	}
	j.reserved = j.size + grow
	return nil
}

// commit records that the input up to offset is handled, as chunk seq.
func (j *journal) commit(offset, seq int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq = seq
	at := offset - j.base
	if _, err := j.f.WriteAt(j.header(at), 0); err != nil {
		return fmt.Errorf("spool: input journal: %w", err)
	}
	if j.size < rotateAt || j.size-at > reserveStep {
		return nil
	}
	// Start over with what is not committed (part of a line at most).
	rest := make([]byte, j.size-at)
	if _, err := j.f.ReadAt(rest, headerSize+at); err != nil {
		return fmt.Errorf("spool: input journal: %w", err)
	}
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, append(j.header(0), rest...), 0o644); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	j.f.Close()
	j.f, j.base, j.size, j.reserved = f, offset, int64(len(rest)), 0
	return nil
}

// bytes is the size of the journal's input.
func (j *journal) bytes() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// close closes the journal's file; it stays for the next run.
func (j *journal) close() { j.f.Close() }

// remove removes the journal once every byte read is committed: a
// spool at rest has none.
func (j *journal) remove() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var committed [headerSize]byte
	if _, err := j.f.ReadAt(committed[:], 0); err != nil {
		return fmt.Errorf("spool: input journal: %w", err)
	}
	if int64(binary.BigEndian.Uint64(committed[8:])) < j.size {
		return nil // not all handled: it stays for the next run
	}
	if err := os.Remove(j.path); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// closingReader reads r and closes c.
type closingReader struct {
	io.Reader
	c io.Closer
}

func (r *closingReader) Close() error { return r.c.Close() }

// waitForInput waits, without reading, until in has a byte to read or is
// at its end, and reports which: a regular file holds more past its
// offset, a pipe or socket has bytes queued; /dev/null never has any.
// Whatever else it cannot tell counts as having input.
func waitForInput(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return true
	}
	fi, err := f.Stat()
	if err != nil {
		return true
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		off, err := f.Seek(0, io.SeekCurrent)
		return err != nil || fi.Size() > off
	case mode&os.ModeCharDevice != 0:
		null, err := os.Stat(os.DevNull)
		return err != nil || !os.SameFile(fi, null)
	case mode&(os.ModeNamedPipe|os.ModeSocket) == 0:
		return true
	}
	fd := int(f.Fd())
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return true
		}
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
	return err != nil || n > 0
}
