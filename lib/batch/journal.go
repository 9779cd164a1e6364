package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/skyflows/skyflows/lib/jsonscan"
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
	// reserveStep is how much disk the journal reserves at a time.
	reserveStep = 1 << 20
)

// rotateAt is the size past which a journal whose bytes are all but a
// line's worth committed starts over (a variable for the tests).
var rotateAt int64 = 64 << 20

// journal is the input journal: an io.Reader over the input that writes
// through, and the commits.
type journal struct {
	path string
	in   io.Reader
	// replay is an earlier run's uncommitted input, read first; it is
	// in the file already.
	replay io.Reader

	mu        sync.Mutex // between the reading goroutine and commits
	f         *os.File
	size      int64 // bytes of input in f
	reserved  int64 // bytes of disk reserved past the header
	base      int64 // the input offset of f's first byte
	committed int64 // bytes of f committed
	seq       int64 // the last sequence number committed
	// partial is the record an earlier run was stopped in the middle of
	// reading, at the end of the replay; the first line of new input
	// tells whether its rest follows (a file read on from the same
	// offset) or went with the earlier run (a pipe whose writer died).
	partial []byte
	// cut is set when the rest did not follow: the record ends where the
	// earlier run stopped, alone on its line.
	cut atomic.Bool
	// pending is new input held back behind the newline that ends a cut
	// record; it is in the file already.
	pending []byte
}

// openJournal opens the spool's input journal. The uncommitted input of
// an earlier run is kept, alone, in a new journal that is read first;
// seq is the last sequence number it committed, or -1 for a spool
// without a journal (every object journal line counts).
func openJournal(dir string) (*journal, error) {
	j := &journal{path: filepath.Join(dir, openDir, inputJournal), seq: -1}
	var tail []byte
	old, err := os.ReadFile(j.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
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
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		j.partial = bytes.Clone(tail[bytes.LastIndexByte(tail, '\n')+1:])
	}
	// The tail alone in a new file, renamed over the old one.
	if j.f, err = j.startOver(tail); err != nil {
		return nil, err
	}
	j.size = int64(len(tail))
	if len(tail) > 0 {
		// Read before any new input: the file cannot start over under it.
		j.replay = io.NewSectionReader(j.f, headerSize, j.size)
	}
	return j, nil
}

func (j *journal) header(committed int64) []byte {
	h := binary.BigEndian.AppendUint64(nil, uint64(max(j.seq, 0)))
	return binary.BigEndian.AppendUint64(h, uint64(committed))
}

// Read reads the earlier run's rest, then the input. The input goes to
// the journal first, by the kernel, in one system call (splice from a
// pipe, copy_file_range from a file), and is read back from it: a kill at
// any moment leaves every byte taken from the input in the journal.
// Other inputs are read, then written, which leaves a moment between the
// two. Disk for what it takes is reserved first: a full disk stops the
// stage before it takes input it could not keep.
func (j *journal) Read(p []byte) (int, error) {
	if j.replay != nil {
		n, err := j.replay.Read(p)
		if err != io.EOF {
			return n, err
		}
		j.replay = nil
	}
	if len(j.pending) > 0 {
		n := copy(p, j.pending)
		j.pending = j.pending[n:]
		return n, nil
	}
	f, off, err := j.prepare(int64(len(p)))
	if err != nil {
		return 0, err
	}
	n, err := moveIn(j.in, f, off, len(p))
	if errors.Is(err, errNoMove) {
		if n, err = j.in.Read(p); n > 0 {
			if _, werr := f.WriteAt(p[:n], off); werr != nil {
				return 0, fmt.Errorf("spool: input journal: %w", werr)
			}
		}
	} else if n > 0 {
		if _, rerr := f.ReadAt(p[:n], off); rerr != nil {
			return 0, fmt.Errorf("spool: input journal: %w", rerr)
		}
	}
	if n > 0 && j.partial != nil {
		return j.afterPartial(p, f, off, n, err)
	}
	if n > 0 {
		j.mu.Lock()
		j.size += int64(n)
		j.mu.Unlock()
	}
	return n, err
}

// afterPartial handles the first new input after a replay that ended in
// the middle of a record: when the record and the input's first line do
// not make one JSON text, the record was cut, and a newline goes between
// them, in the journal too. Undecided (no newline in what came), the
// input is taken as the record's rest.
func (j *journal) afterPartial(p []byte, f *os.File, off int64, n int, err error) (int, error) {
	partial := j.partial
	j.partial = nil
	k := bytes.IndexByte(p[:n], '\n')
	if k < 0 || jsonscan.Valid(append(partial, p[:k]...)) == nil {
		j.mu.Lock()
		j.size += int64(n)
		j.mu.Unlock()
		return n, err
	}
	data := append([]byte{'\n'}, p[:n]...)
	if _, werr := f.WriteAt(data, off); werr != nil {
		return 0, fmt.Errorf("spool: input journal: %w", werr)
	}
	j.cut.Store(true)
	j.mu.Lock()
	j.size += int64(len(data))
	j.mu.Unlock()
	m := copy(p, data)
	j.pending = data[m:]
	return m, err
}

// errNoMove: the input is not one the kernel moves into a file.
var errNoMove = errors.New("input not moved by the kernel")

// moveIn moves up to n bytes of in to f at off, in the kernel; it
// returns errNoMove for an input it cannot move that way.
func moveIn(in io.Reader, f *os.File, off int64, n int) (int, error) {
	src, ok := in.(*os.File)
	if !ok {
		return 0, errNoMove
	}
	fi, err := src.Stat()
	if err != nil {
		return 0, errNoMove
	}
	var moved int
	switch mode := fi.Mode(); {
	case mode&os.ModeNamedPipe != 0:
		moved, err = retryEINTR(func() (int, error) {
			m, err := unix.Splice(int(src.Fd()), nil, int(f.Fd()), &off, n, 0)
			return int(m), err
		})
	case mode.IsRegular():
		moved, err = retryEINTR(func() (int, error) { return unix.CopyFileRange(int(src.Fd()), nil, int(f.Fd()), &off, n, 0) })
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
			return 0, errNoMove
		}
	default:
		return 0, errNoMove
	}
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	if moved == 0 {
		return 0, io.EOF
	}
	return moved, nil
}

func retryEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}

// prepare readies the journal for n more bytes: it starts the file over
// when all but a line's worth of it is committed and it grew past
// rotateAt, and reserves the disk. It returns the file and the offset
// they go to. Only the reading goroutine writes input to the file, so the
// file cannot change under a move.
func (j *journal) prepare(n int64) (*os.File, int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.size >= rotateAt && j.size-j.committed <= reserveStep {
		if err := j.rotate(); err != nil {
			return nil, 0, err
		}
	}
	if j.size+n > j.reserved {
		grow := max(n, reserveStep)
		err := syscall.Fallocate(int(j.f.Fd()), 1 /* FALLOC_FL_KEEP_SIZE */, headerSize+j.size, grow)
		if errors.Is(err, syscall.ENOSPC) && grow > n {
			grow = n
			err = syscall.Fallocate(int(j.f.Fd()), 1, headerSize+j.size, grow)
		}
		if err != nil && !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
			return nil, 0, fmt.Errorf("spool: input journal: %w", err)
		}
		j.reserved = j.size + grow
	}
	return j.f, headerSize + j.size, nil
}

// commit records that the input up to offset is handled, as chunk seq.
func (j *journal) commit(offset, seq int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq, j.committed = seq, offset-j.base
	if _, err := j.f.WriteAt(j.header(j.committed), 0); err != nil {
		return fmt.Errorf("spool: input journal: %w", err)
	}
	return nil
}

// committedAt is the input offset committed last.
func (j *journal) committedAt() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.base + j.committed
}

// kept counts the records of the input not committed, which the next run
// reads first: its whole lines, and a last one cut short.
func (j *journal) kept() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	rest := make([]byte, j.size-j.committed)
	if n, _ := j.f.ReadAt(rest, headerSize+j.committed); n < len(rest) {
		rest = rest[:n]
	}
	n := int64(bytes.Count(rest, []byte("\n")))
	if len(rest) > 0 && rest[len(rest)-1] != '\n' {
		n++
	}
	return n
}

// rotate starts the journal over with what is not committed (part of a
// line at most), in a new file renamed over the old one; j.mu is held.
func (j *journal) rotate() error {
	rest := make([]byte, j.size-j.committed)
	if _, err := j.f.ReadAt(rest, headerSize+j.committed); err != nil {
		return fmt.Errorf("spool: input journal: %w", err)
	}
	f, err := j.startOver(rest)
	if err != nil {
		return err
	}
	j.f.Close()
	j.f, j.base, j.size, j.committed, j.reserved = f, j.base+j.committed, int64(len(rest)), 0, 0
	return nil
}

// startOver replaces the journal file with one that holds rest alone,
// whole or not at all, and opens it.
func (j *journal) startOver(rest []byte) (*os.File, error) {
	if err := writeAtomic(j.path, append(j.header(0), rest...)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(j.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f, nil
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
	if j.committed < j.size {
		return nil // not all handled: it stays for the next run
	}
	if err := os.Remove(j.path); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

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
