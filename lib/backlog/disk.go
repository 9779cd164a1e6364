package backlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segmentMax is the size at which the writer starts a new segment file.
const segmentMax = 16 << 20

// disk keeps blocks in numbered segment files: a header of two uint32
// (records, length) then the data, for each block.
type disk struct {
	dir      string
	max      int64
	segments []uint64 // numbers of the files present, oldest first
	w        *os.File // the newest segment, being written
	wSize    int64
	r        *os.File // the oldest segment, being read
	rBuf     *bufio.Reader
	rSeg     uint64
	rOff     int64
	pending  int // blocks on disk
	records  int
	bytes    int64
}

func segName(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016d.seg", n))
}

func openDisk(dir string, max int64) (*disk, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("buffer dir: %w", err)
	}
	d := &disk{dir: dir, max: max}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("buffer dir: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		n, err := strconv.ParseUint(name, 10, 64)
		if !ok || err != nil {
			continue
		}
		d.segments = append(d.segments, n)
	}
	slices.Sort(d.segments)
	// Count what an earlier run left, so it comes out first.
	for _, n := range d.segments {
		blocks, records, size, err := countSegment(segName(dir, n))
		if err != nil {
			return nil, err
		}
		d.pending += blocks
		d.records += records
		d.bytes += size
	}
	return d, nil
}

// countSegment counts the whole blocks of a segment; a torn last block
// (a crash while writing) is not counted and is never read.
func countSegment(path string) (blocks, records int, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("buffer: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return blocks, records, size, nil
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if skipped, _ := r.Discard(int(n)); int64(skipped) < n {
			return blocks, records, size, nil
		}
		blocks++
		records += int(binary.LittleEndian.Uint32(hdr[:4]))
		size += 8 + n
	}
}

func (d *disk) push(b Block) (bool, error) {
	need := int64(8 + len(b.Data))
	if d.bytes+need > d.max {
		return false, nil
	}
	if d.w == nil || d.wSize >= segmentMax {
		if err := d.rotate(); err != nil {
			return false, err
		}
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(b.Records))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(b.Data)))
	if _, err := d.w.Write(hdr[:]); err != nil {
		return false, fmt.Errorf("buffer: %w", err)
	}
	if _, err := d.w.Write(b.Data); err != nil {
		return false, fmt.Errorf("buffer: %w", err)
	}
	d.wSize += need
	d.bytes += need
	d.pending++
	d.records += b.Records
	return true, nil
}

func (d *disk) rotate() error {
	var n uint64
	if len(d.segments) > 0 {
		n = d.segments[len(d.segments)-1] + 1
	}
	f, err := os.OpenFile(segName(d.dir, n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	if d.w != nil {
		d.w.Close()
	}
	d.w, d.wSize = f, 0
	d.segments = append(d.segments, n)
	return nil
}

// pop reads the oldest block; called only when pending > 0.
func (d *disk) pop() (Block, error) {
	for rewound := false; ; {
		if d.r == nil {
			f, err := os.Open(segName(d.dir, d.segments[0]))
			if err != nil {
				return Block{}, fmt.Errorf("buffer: %w", err)
			}
			d.r, d.rBuf, d.rSeg, d.rOff = f, bufio.NewReaderSize(f, 256<<10), d.segments[0], 0
		}
		var hdr [8]byte
		_, err := io.ReadFull(d.rBuf, hdr[:])
		if err == nil {
			b := Block{Records: int(binary.LittleEndian.Uint32(hdr[:4]))}
			b.Data = make([]byte, binary.LittleEndian.Uint32(hdr[4:]))
			if _, err = io.ReadFull(d.rBuf, b.Data); err == nil {
				d.rOff += int64(8 + len(b.Data))
				d.pending--
				d.records -= b.Records
				d.bytes -= int64(8 + len(b.Data))
				return b, nil
			}
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return Block{}, fmt.Errorf("buffer: %w", err)
		}
		if len(d.segments) == 1 && d.w != nil {
			// Reading the writer's segment: the buffered reader met its
			// end before the block was written; read again from its offset.
			if rewound {
				return Block{}, errors.New("buffer: segment shorter than counted")
			}
			if _, err := d.r.Seek(d.rOff, io.SeekStart); err != nil {
				return Block{}, fmt.Errorf("buffer: %w", err)
			}
			d.rBuf.Reset(d.r)
			rewound = true
			continue
		}
		// An older segment is done: remove it.
		d.r.Close()
		d.r = nil
		if err := os.Remove(segName(d.dir, d.rSeg)); err != nil {
			return Block{}, fmt.Errorf("buffer: %w", err)
		}
		d.segments = d.segments[1:]
		if len(d.segments) == 0 {
			return Block{}, errors.New("buffer: segments shorter than counted")
		}
	}
}

func (d *disk) close() error {
	if d.r != nil {
		d.r.Close()
	}
	if d.w != nil {
		d.w.Close()
	}
	if d.pending == 0 {
		for _, n := range d.segments {
			os.Remove(segName(d.dir, n))
		}
		d.segments = nil
	}
	return nil
}
