// Package spool is the on-disk contract between sky-batch, which makes
// objects, and sky-s3put, which stores them.
//
// A spool is a directory (itself possibly a link, to a bigger disk) that
// holds three directories of its own, never links:
//
//   - open/: sky-batch's input journal and, for each open object, its
//     records' journal (ID.ndjson), the object being encoded (ID.part) and
//     what names it (ID.meta, whole or absent, not fsynced: one a power
//     cut empties names nothing, and its records go to an object of the
//     next run's stream). Only sky-batch reads or removes them.
//   - ready/: finished objects, named by ID. sky-batch fsyncs ID.part,
//     renames it here, then writes manifests/ID.json atomically (a
//     temporary file, fsynced, renamed) and fsyncs ready/ and manifests/;
//     objects closed together are fsynced together.
//   - manifests/: one Manifest per finished object. The manifest is the
//     object's claim: sky-s3put takes its lock (flock) while it uploads,
//     and, once the store confirmed the object, removes the object and
//     then the manifest, the lock still held.
//
// A crash leaves an object either open (sky-batch's next run finishes it
// from the journals), in ready/ without a manifest (the next run writes
// the manifest again) or in ready/ with its manifest (any sky-s3put on
// the spool stores it); an object gone from ready/ with its manifest left
// was stored, and only the manifest is removed. Only sky-s3put removes
// from ready/ and manifests/, and only regular files reached through the
// spool's own directories.
package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The spool's own directories.
const (
	Open      = "open"
	Ready     = "ready"
	Manifests = "manifests"
)

// Manifest describes a finished object for sky-s3put and other tools:
// the spool it is in (absolute, as sky-batch opened it) and its path
// there, ready/ID.
type Manifest struct {
	Spool           string            `json:"spool,omitempty"`
	Path            string            `json:"path"`
	Key             string            `json:"key"`
	Records         int               `json:"records"`
	Bytes           int64             `json:"bytes"`
	FirstTimestamp  int64             `json:"first_timestamp"`
	LastTimestamp   int64             `json:"last_timestamp"`
	ContentType     string            `json:"content_type"`
	ContentEncoding string            `json:"content_encoding,omitempty"`
	SHA256          string            `json:"sha256"`
	MD5             string            `json:"md5"` // base64, as S3's Content-MD5
	Metadata        map[string]string `json:"metadata"`
	Group           string            `json:"group"`
	Stream          string            `json:"stream"`
}

// ObjectPath is what a manifest says of the object id: its path in the
// spool, whatever the working directory.
func ObjectPath(id string) string { return Ready + "/" + id }

// Default is the spool of sky-batch and sky-s3put when neither --spool
// nor SKY_SPOOL says: /var/spool/skyflows for root, else
// $XDG_STATE_HOME/skyflows/spool (~/.local/state/skyflows/spool).
func Default() string {
	if os.Geteuid() == 0 {
		return "/var/spool/skyflows"
	}
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "spool"
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "skyflows", "spool")
}

// Resolve is the spool's absolute path, links resolved; a spool that does
// not exist (yet) is its absolute path.
func Resolve(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, os.ErrNotExist) {
		return abs, nil
	}
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	return real, nil
}

// TryLock takes f's exclusive lock without waiting: false, and no error,
// when another process holds it. The kernel lets the lock go when the
// process ends, however it ends.
func TryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// ErrNotOwn is the error of a spool directory that is not the spool's
// own: a link, or not a directory.
var ErrNotOwn = errors.New("not a directory of the spool's own (a link, or not a directory)")

// Dir is an open spool. Its own directories are reached from the spool's
// directory descriptor, each time anew and never through a link, so that
// one replaced by a link, even while a tool runs, leads nowhere outside.
type Dir struct {
	Path string // absolute, links resolved
	fd   *os.File
}

// OpenDir opens the spool at path, which must exist.
func OpenDir(path string) (*Dir, error) {
	real, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	fd, err := os.OpenFile(real, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Dir{Path: real, fd: fd}, nil
}

// Close lets the spool's directory go.
func (d *Dir) Close() error { return d.fd.Close() }

// Sub opens the spool's own directory name; a link or anything but a
// directory there is ErrNotOwn, one missing os.ErrNotExist.
func (d *Dir) Sub(name string) (*os.File, error) {
	fd, err := unix.Openat(int(d.fd.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("spool %s: %s/: %w", d.Path, name, ErrNotOwn)
	case err != nil:
		return nil, fmt.Errorf("spool %s: %s/: %w", d.Path, name, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.Path, name)), nil
}

// Check checks that each of names that exists is the spool's own
// directory.
func (d *Dir) Check(names ...string) error {
	for _, name := range names {
		f, err := d.Sub(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// ErrNotFile is the error of a name in a spool directory that is not a
// regular file: a link, a directory, a device.
var ErrNotFile = errors.New("not a regular file (a symbolic link, or another kind of file), not a spooled file")

// OpenFile opens the regular file name in the spool's directory sub,
// never through a link (ErrNotFile).
func (d *Dir) OpenFile(sub, name string, flag int, perm uint32) (*os.File, error) {
	dir, err := d.Sub(sub)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s/%s: %w", sub, name, ErrNotFile)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(d.Path, sub, name), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.Path, sub, name))
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s/%s: %w", sub, name, ErrNotFile)
	}
	return f, nil
}

// Exists reports whether name is in the spool's directory sub, as a
// file or anything else.
func (d *Dir) Exists(sub, name string) (bool, error) {
	dir, err := d.Sub(sub)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer dir.Close()
	var st unix.Stat_t
	err = unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// Remove removes the file name from the spool's directory sub; one
// already gone is no error.
func (d *Dir) Remove(sub, name string) error {
	dir, err := d.Sub(sub)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("spool %s: remove %s/%s: %w", d.Path, sub, name, err)
	}
	return nil
}

// MoveOut renames the file name of the spool's directory sub to dst,
// outside the spool.
func (d *Dir) MoveOut(sub, name, dst string) error {
	dir, err := d.Sub(sub)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Renameat(int(dir.Fd()), name, unix.AT_FDCWD, dst); err != nil {
		return fmt.Errorf("spool %s: move %s/%s: %w", d.Path, sub, name, err)
	}
	return nil
}

// Names lists, sorted, the names in the spool's directory sub that end
// in suffix; a missing directory holds none.
func (d *Dir) Names(sub, suffix string) ([]string, error) {
	dir, err := d.Sub(sub)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	all, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %s/: %w", d.Path, sub, err)
	}
	names := all[:0]
	for _, name := range all {
		if strings.HasSuffix(name, suffix) && !strings.HasPrefix(name, ".") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// OldestWaiting is the age of the oldest finished object of the spool,
// by its manifest; 0 when there is none.
func (d *Dir) OldestWaiting() time.Duration {
	dir, err := d.Sub(Manifests)
	if err != nil {
		return 0
	}
	defer dir.Close()
	entries, _ := dir.ReadDir(-1)
	var oldest time.Time
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if fi, err := e.Info(); err == nil && (oldest.IsZero() || fi.ModTime().Before(oldest)) {
			oldest = fi.ModTime()
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest)
}
