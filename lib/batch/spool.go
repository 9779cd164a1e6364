package batch

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// spool is the directory of objects being made and made.
type spool struct {
	dir string
}

// streamFormat names a stream by its start time.
const streamFormat = "20060102T150405Z"

// openSpool makes the spool's directories and checks it can write there.
func openSpool(dir string) (*spool, error) {
	s := &spool{dir: dir}
	for _, d := range []string{openDir, readyDir, manifestDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	probe := filepath.Join(dir, openDir, ".probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return nil, fmt.Errorf("spool %s is not writable: %w", dir, err)
	}
	os.Remove(probe)
	return s, nil
}

// ManifestFiles lists, in order, the manifests of the finished objects of
// the spool dir.
func ManifestFiles(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, manifestDir, "*.json"))
	slices.Sort(names)
	return names, err
}

// ManifestOf is the manifest file of the finished object at path.
func ManifestOf(path string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(path)), manifestDir, filepath.Base(path)+".json")
}

// newStream returns the id of a stream starting now, later than any this
// spool had, so that keys never repeat across restarts.
func (s *spool) newStream(now time.Time) (string, error) {
	state := filepath.Join(s.dir, "stream")
	t := now.UTC().Truncate(time.Second)
	if last, err := os.ReadFile(state); err == nil {
		if prev, err := time.Parse(streamFormat, strings.TrimSpace(string(last))); err == nil && !t.After(prev) {
			t = prev.Add(time.Second)
		}
	}
	id := t.Format(streamFormat)
	return id, writeAtomic(state, []byte(id+"\n"))
}

// leftovers lists the objects an earlier run left open, oldest first.
func (s *spool) leftovers() ([]meta, error) {
	names, err := filepath.Glob(s.path(openDir, "*.meta"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var metas []meta
	for _, name := range names {
		data, err := os.ReadFile(name)
		var m meta
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err != nil || m.ID+".meta" != filepath.Base(name) || checkKey(m.Key) != nil {
			return nil, fmt.Errorf("spool: %s: not a sky-batch object description", name)
		}
		if _, err := os.Stat(s.path(manifestDir, m.ID+".json")); err == nil {
			// Finished before the crash: only the journal is left to remove.
			for _, ext := range []string{".ndjson", ".ndjson.old", ".meta", ".part"} {
				os.Remove(s.path(openDir, m.ID+ext))
			}
			continue
		}
		metas = append(metas, m)
	}
	return metas, nil
}

// keepJournal sets an open object's journal aside, unless an earlier
// recovery did, and returns its path.
func (s *spool) keepJournal(id string) (string, error) {
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

// readJournal calls fn with each complete line of a journal; a line cut
// short by a crash is left out.
func readJournal(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if err := fn(line[:len(line)-1]); err != nil {
			return err
		}
	}
}
