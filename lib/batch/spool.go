package batch

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skyflows/skyflows/lib/spool"
)

// spoolDir is sky-batch's side of the spool: the directory of objects
// being made and made.
type spoolDir struct {
	dir  string     // absolute, links resolved
	own  *spool.Dir // to check its directories are its own
	lock *os.File   // held while sky-batch runs
	// spare is the gear of finished objects, for the next ones.
	spare []*gear
	// parquet counts the open Parquet objects, whose memory is limited
	// (limitMemory).
	parquet int
}

// streamFormat is the time part of a stream id; streamIDLen the length
// of the part that follows it: 4 hex digits of the host id's hash and 8
// random ones, so that pipelines on two hosts, or two on one host,
// started in the same second do not share a stream.
const (
	streamFormat = "20060102T150405Z"
	streamIDLen  = 12
)

// Lock files: one sky-batch at a time on a spool.
const batchLock = "batch.lock"

// openSpool makes the spool's directories, checks they are its own and
// that it can write there, and takes its lock, which a second sky-batch
// on the same spool is refused.
func openSpool(dir string) (*spoolDir, error) {
	for _, d := range []string{openDir, readyDir, manifestDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	own, err := spool.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	s := &spoolDir{dir: own.Path, own: own}
	if err := s.check(); err != nil {
		own.Close()
		return nil, err
	}
	lock, err := lockFile(filepath.Join(s.dir, batchLock))
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("spool %s: %w", s.dir, err)
	}
	if lock == nil {
		own.Close()
		return nil, fmt.Errorf("spool %s is in use by another sky-batch: one at a time on a spool", s.dir)
	}
	s.lock = lock
	return s, nil
}

// check checks that the spool's directories are still its own, before
// sky-batch writes, renames or removes there.
func (s *spoolDir) check() error {
	return s.own.Check(openDir, readyDir, manifestDir)
}

// close lets the spool go: its lock, then its directory.
func (s *spoolDir) close() {
	s.lock.Close()
	s.own.Close()
}

// lockFile takes an exclusive lock on the file at path, made if need be; it
// returns nil, and no error, when another process holds it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if ok, err := spool.TryLock(f); !ok {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readyBytes is the size of the finished objects in the spool.
func (s *spoolDir) readyBytes() int64 {
	entries, _ := os.ReadDir(filepath.Join(s.dir, readyDir))
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// newStream returns the id of a stream starting now: a time later than
// any this spool had, a hash of the host id and a random part, so that
// keys never repeat across restarts, processes and hosts.
func (s *spoolDir) newStream(now time.Time, host string) (string, error) {
	state := filepath.Join(s.dir, "stream")
	t := now.UTC().Truncate(time.Second)
	if last, err := os.ReadFile(state); err == nil {
		prevText, _, _ := strings.Cut(strings.TrimSpace(string(last)), "-")
		if prev, err := time.Parse(streamFormat, prevText); err == nil && !t.After(prev) {
			t = prev.Add(time.Second)
		}
	}
	hostSum := sha256.Sum256([]byte(host))
	random := make([]byte, 4)
	rand.Read(random)
	id := t.Format(streamFormat) + "-" + hex.EncodeToString(hostSum[:2]) + hex.EncodeToString(random)
	return id, writeAtomic(state, []byte(id+"\n"))
}

// leftovers lists the objects an earlier run left open, oldest first,
// and removes the temporary files a crash left. torn are the ids of
// objects whose meta a power cut tore: their journals say what they
// hold.
func (s *spoolDir) leftovers() (metas []meta, torn []string, err error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	tmps, _ := filepath.Glob(s.path(openDir, "*.tmp"))
	for _, tmp := range tmps {
		os.Remove(tmp)
	}
	names, err := filepath.Glob(s.path(openDir, "*.meta"))
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		id := strings.TrimSuffix(filepath.Base(name), ".meta")
		if _, err := os.Stat(s.path(manifestDir, id+".json")); err == nil {
			// Finished before the crash: only the journal is left to remove.
			for _, ext := range []string{".ndjson", ".ndjson.old", ".meta", ".part"} {
				os.Remove(s.path(openDir, id+ext))
			}
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, nil, fmt.Errorf("spool: %w", err)
		}
		var m meta
		switch {
		case json.Unmarshal(data, &m) != nil && !bytes.HasPrefix(data, []byte("{")):
			// Written whole or not at all, but not fsynced: empty, or
			// zeros, after a power cut.
			torn = append(torn, id)
		case m.ID != id || checkKey(m.Key) != nil:
			return nil, nil, fmt.Errorf("spool: %s: not a sky-batch object description", name)
		default:
			metas = append(metas, m)
		}
	}
	return metas, torn, nil
}

// keepJournal sets an open object's journal aside, unless an earlier
// recovery did, and returns its path.
func (s *spoolDir) keepJournal(id string) (string, error) {
	old := s.path(openDir, id+".ndjson.old")
	if _, err := os.Stat(old); err == nil {
		return old, nil
	}
	err := os.Rename(s.path(openDir, id+".ndjson"), old)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("spool: %w", err)
	}
	return old, nil
}

// readJournal calls fn with each record of an object's journal that a
// committed chunk of input put there: the lines up to the last marker
// "#SEQ" with SEQ at most committed. What follows is of a chunk that was
// not committed, which the input journal gives again (a line cut short
// by a crash among them). A negative committed takes every whole line
// (a spool of an earlier version, without markers).
func readJournal(path string, committed int64, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	var pending [][]byte
	emit := func() error {
		for _, line := range pending {
			if err := fn(line); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		line = line[:len(line)-1]
		if committed < 0 {
			if err := fn(line); err != nil {
				return err
			}
			continue
		}
		if seq, ok := marker(line); ok {
			if seq > committed {
				return nil
			}
			if err := emit(); err != nil {
				return err
			}
			continue
		}
		pending = append(pending, line)
	}
}

// marker reads a journal's chunk marker, "#SEQ".
func marker(line []byte) (int64, bool) {
	if len(line) < 2 || line[0] != '#' {
		return 0, false
	}
	seq, err := strconv.ParseInt(string(line[1:]), 10, 64)
	return seq, err == nil
}
