package spool

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDefault: root's spool is the system's, a user's is in its state
// directory.
func TestDefault(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	want := "/x/state/skyflows/spool"
	if os.Geteuid() == 0 {
		want = "/var/spool/skyflows"
	}
	if got := Default(); got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

// TestSwappedForALink: a spool directory replaced by a link while the
// spool is open leads nowhere: every read, removal and move through it
// is ErrNotOwn, and the files it points at stay. The spool itself may be
// a link.
func TestSwappedForALink(t *testing.T) {
	real := t.TempDir()
	for _, d := range []string{Ready, Manifests, Open} {
		os.Mkdir(filepath.Join(real, d), 0o755)
	}
	os.WriteFile(filepath.Join(real, Ready, "obj"), []byte("mine"), 0o644)
	link := filepath.Join(t.TempDir(), "spool")
	os.Symlink(real, link)
	d, err := OpenDir(link)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Path != real {
		t.Errorf("path %s, want %s", d.Path, real)
	}
	if err := d.Check(Ready, Manifests, Open); err != nil {
		t.Fatal(err)
	}
	f, err := d.OpenFile(Ready, "obj", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()

	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "obj")
	os.WriteFile(victim, []byte("not yours"), 0o644)
	os.Rename(filepath.Join(real, Ready), filepath.Join(real, "moved"))
	os.Symlink(elsewhere, filepath.Join(real, Ready))
	if err := d.Check(Ready); !errors.Is(err, ErrNotOwn) {
		t.Errorf("check: %v", err)
	}
	if _, err := d.OpenFile(Ready, "obj", os.O_RDONLY, 0); !errors.Is(err, ErrNotOwn) {
		t.Errorf("open: %v", err)
	}
	if err := d.Remove(Ready, "obj"); !errors.Is(err, ErrNotOwn) {
		t.Errorf("remove: %v", err)
	}
	if err := d.MoveOut(Ready, "obj", filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrNotOwn) {
		t.Errorf("move: %v", err)
	}
	if _, err := d.Names(Ready, ""); !errors.Is(err, ErrNotOwn) {
		t.Errorf("names: %v", err)
	}
	if data, err := os.ReadFile(victim); err != nil || string(data) != "not yours" {
		t.Errorf("the file outside the spool was touched: %v", err)
	}
}

// TestLinkedFile: a file of a spool directory that is a link, or not a
// regular file, is ErrNotFile.
func TestLinkedFile(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, Ready), 0o755)
	os.Symlink("/etc/hostname", filepath.Join(dir, Ready, "link"))
	os.Mkdir(filepath.Join(dir, Ready, "sub"), 0o755)
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"link", "sub"} {
		if _, err := d.OpenFile(Ready, name, os.O_RDONLY, 0); !errors.Is(err, ErrNotFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
