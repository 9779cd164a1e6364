package clitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: deploy/skyflows@.service, with this checkout for
// /opt/skyflows, passes systemd-analyze verify as the instance of a ready
// pipeline.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	root, _ := filepath.Abs("..")
	unit, err := os.ReadFile("../deploy/skyflows@.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "skyflows@secadvisor.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/opt/skyflows", root)), 0o644)
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v: %s", err, out)
	}
}
