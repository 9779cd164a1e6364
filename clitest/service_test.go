package clitest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/stage"
)

// The shapes a service manager and cron run the tools in: what
// `make install PREFIX=...` and deploy/ ship, started as systemd and cron
// start them.

var install struct {
	once   sync.Once
	prefix string
	err    error
}

// installed runs `make install PREFIX=DIR` once, into a directory any user
// can read, and returns DIR.
func installed(t *testing.T) string {
	t.Helper()
	install.once.Do(func() {
		dir, err := os.MkdirTemp("", "skyflows-prefix-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			install.err = err
			return
		}
		install.prefix = dir
		out, err := exec.Command("make", "-C", "..", "install", "PREFIX="+dir).CombinedOutput()
		if err != nil {
			install.err = fmt.Errorf("make install: %v: %s", err, out)
		}
	})
	if install.err != nil {
		t.Fatal(install.err)
	}
	return install.prefix
}

// localS3 starts a versitygw with the bucket "flows" for t and returns the
// settings that point the tools at it and its data directory.
func localS3(t *testing.T) (settings []string, data string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	env := append(os.Environ(), "S3LOCAL_ADDR="+addr, "S3LOCAL_DIR="+dir, "S3LOCAL_BUCKET=flows")
	run := func(step string) error {
		cmd := exec.Command("../scripts/s3local.sh", step)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("s3local.sh %s: %v: %s", step, err, out)
		}
		return nil
	}
	if err := run("start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run("stop") })
	cmd := exec.Command("../scripts/s3local.sh", "env")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		settings = append(settings, strings.TrimPrefix(line, "export "))
	}
	return settings, filepath.Join(dir, "data", "flows")
}

// serviceUser is who the services run as: nobody when the tests run as
// root, else the user running them.
func serviceUser() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534}
}

// userDir makes a directory the service user owns.
func userDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "skyflows-svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if u := serviceUser(); u != nil {
		os.Chown(dir, int(u.Uid), int(u.Gid))
	}
	return dir
}

// unit is deploy/skyflows@.service as systemd reads it for one instance,
// with prefix for /opt/skyflows and envFile for /etc/skyflows/%i.env.
type unit struct {
	execStart string
	env       []string // Environment=, then EnvironmentFile=, as systemd sets them
}

func readUnit(t *testing.T, prefix, instance, envFile string) unit {
	t.Helper()
	data, err := os.ReadFile("../deploy/skyflows@.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "/etc/skyflows/%i.env", envFile)
	text = strings.ReplaceAll(strings.ReplaceAll(text, "/opt/skyflows", prefix), "%i", instance)
	var u unit
	var files []string
	for _, line := range strings.Split(text, "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		switch {
		case !ok:
		case key == "ExecStart":
			u.execStart = value
		case key == "Environment":
			u.env = append(u.env, strings.Fields(value)...)
		case key == "EnvironmentFile":
			files = append(files, strings.TrimPrefix(value, "-"))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				u.env = append(u.env, line)
			}
		}
	}
	if u.execStart == "" {
		t.Fatal("the unit has no ExecStart")
	}
	return u
}

// started is a pipeline started as systemd starts a unit's ExecStart.
type started struct {
	cmd     *exec.Cmd
	journal *stage.LockedWriter // what came on its stdout and stderr socket, in a bytes.Buffer
	done    chan struct{}
}

// text is what a service wrote so far to a stage.LockedWriter over a
// bytes.Buffer, read under its lock while it runs.
func text(l *stage.LockedWriter) string {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.W.(*bytes.Buffer).String()
}

// startService runs the unit as systemd would: stdin /dev/null, stdout
// and stderr one UNIX stream socket (the journal's), the working
// directory /, the unit's environment alone (no HOME), the service
// user, a process group of its own; or with stdout given (a pipe).
func startService(t *testing.T, u unit, stdout *os.File) *started {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	journal, theirs := os.NewFile(uintptr(fds[0]), "journal"), os.NewFile(uintptr(fds[1]), "journal-socket")
	cmd := exec.Command(u.execStart)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, u.env...)
	cmd.Stdout, cmd.Stderr = theirs, theirs
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: serviceUser()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	s := &started{cmd: cmd, journal: &stage.LockedWriter{W: &bytes.Buffer{}}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		r := bufio.NewReader(journal)
		for {
			line, err := r.ReadBytes('\n')
			s.journal.Write(line)
			if err != nil {
				journal.Close()
				return
			}
		}
	}()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return s
}

// wait waits for the pipeline and everything it wrote to the journal.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	err := s.cmd.Wait()
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		t.Fatal("the journal socket was never closed")
	}
	code := s.cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("%v: %s", err, text(s.journal))
	}
	return code
}

// batchIn is the count of records sky-batch took, from its last stats line.
func batchIn(t *testing.T, journal string) int {
	t.Helper()
	return stat(t, journal, "sky-batch", "in")
}

// stat is the number after field in the last stats line of tool (a
// program's name, with its command for sky-nats).
func stat(t *testing.T, journal, tool, field string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(tool)+`: stats: .*\b`+field+` (\d+)\b`).FindAllStringSubmatch(journal, -1)
	if len(m) == 0 {
		t.Fatalf("no %s in a stats line of %s in: %s", field, tool, journal)
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// storedRecords counts the records of the objects under dir, as each
// format holds them.
func storedRecords(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(path, ".gz") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var doc struct {
			Data     []json.RawMessage `json:"data"`
			FlowLogs []json.RawMessage `json:"flow_logs"`
		}
		switch {
		case strings.HasPrefix(string(data), "version "): // AWS text: a header line
			n += bytes.Count(data, []byte("\n")) - 1
		case json.Unmarshal(data, &doc) == nil && (doc.Data != nil || doc.FlowLogs != nil):
			n += len(doc.Data) + len(doc.FlowLogs)
		default:
			n += bytes.Count(data, []byte("\n"))
		}
		return nil
	})
	return n
}

// TestServiceShape: each ready pipeline, installed by `make install
// PREFIX=...` and started as deploy/skyflows@.service starts it (stdout
// and stderr a socket, a plain user, cwd /, no HOME, settings only from
// the env file), replays a recording into the bucket: exit 0, every record
// sky-batch took is stored, nothing left in the spool. Then a slow replay
// is stopped as `systemctl stop` stops it (SIGTERM to the process group):
// exit 0, every record stored. And with stdout a pipe another user owns.
func TestServiceShape(t *testing.T) {
	prefix := installed(t)
	s3, data := localS3(t)
	share := userDir(t)
	frames := filepath.Join(share, "frames.ndjson")
	f, err := os.Create(frames)
	if err != nil {
		t.Fatal(err)
	}
	flowgen.New(7).WriteFrames(f, 20000, 100)
	f.Close()
	os.Chmod(frames, 0o644)
	envFile := func(instance string, extra ...string) string {
		spool := userDir(t)
		lines := append(append([]string{"SKY_REPLAY=" + frames, "SKY_PREFIX=" + instance, "SKY_SPOOL=" + spool,
			"SKY_CLUSTER_NETS=0.0.0.0/0,::/0", "SKY_STATS_INTERVAL=50ms"}, s3...), extra...)
		path := filepath.Join(t.TempDir(), instance+".env")
		os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
		return path
	}
	for _, instance := range []string{"secadvisor", "awsflowlogs", "vpclogs"} {
		t.Run(instance, func(t *testing.T) {
			u := readUnit(t, prefix, instance, envFile(instance, "SKY_AWS_ACCOUNT_ID=123456789012", "SKY_IBM_ACCOUNT=a"+instance))
			s := startService(t, u, nil)
			if code := s.wait(t); code != 0 {
				t.Fatalf("exit %d: %s", code, text(s.journal))
			}
			journal := text(s.journal)
			want := batchIn(t, journal)
			if got := storedRecords(t, filepath.Join(data, instance)); want == 0 || got != want {
				t.Errorf("%d records stored, sky-batch took %d: %s", got, want, journal)
			}
		})
	}
	t.Run("sigterm", func(t *testing.T) {
		u := readUnit(t, prefix, "secadvisor", envFile("stopped", "SKY_REPLAY_RATE=5000", "SKY_MAX_AGE=1h"))
		s := startService(t, u, nil)
		deadline := time.Now().Add(time.Minute)
		for !regexp.MustCompile(`sky-batch: stats: in [1-9]`).MatchString(text(s.journal)) {
			if time.Now().After(deadline) {
				t.Fatalf("sky-batch took nothing in a minute: %s", text(s.journal))
			}
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		if code := s.wait(t); code != 0 {
			t.Fatalf("exit %d after SIGTERM: %s", code, text(s.journal))
		}
		journal := text(s.journal)
		want := batchIn(t, journal)
		if got := storedRecords(t, filepath.Join(data, "stopped")); got != want || want >= 20000 {
			t.Errorf("%d records stored, sky-batch took %d (of 20000 sent at 5000/s): %s", got, want, journal)
		}
	})
	t.Run("capture and a store worker", func(t *testing.T) {
		url, _ := natsCluster(t)
		capture := startService(t, readUnit(t, prefix, "capture", envFile("capture", "SKY_NATS_URL="+url, "SKY_NATS_REPLICAS=3")), nil)
		if code := capture.wait(t); code != 0 {
			t.Fatalf("skyflows@capture: exit %d: %s", code, text(capture.journal))
		}
		published := stat(t, text(capture.journal), "sky-nats publish", "out") - stat(t, text(capture.journal), "sky-nats publish", "duplicates")
		u := readUnit(t, prefix, "secadvisor", envFile("fromnats", "SKY_SOURCE=nats", "SKY_NATS_URL="+url))
		s := startService(t, u, nil)
		waitUntil(t, "the store worker to take every message", func() bool { return consumed(url, "store") })
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		if code := s.wait(t); code != 0 {
			t.Fatalf("skyflows@secadvisor with SKY_SOURCE=nats: exit %d after SIGTERM: %s", code, text(s.journal))
		}
		journal := text(s.journal)
		if got := stat(t, journal, "sky-nats consume", "acknowledged"); got != published {
			t.Errorf("%d messages acknowledged, %d in the stream: %s", got, published, journal)
		}
		// The same records as the direct pipeline stored, but for the
		// updates the generator repeats, which the stream holds once.
		want := batchIn(t, journal)
		ref := startService(t, readUnit(t, prefix, "secadvisor", envFile("direct")), nil)
		if code := ref.wait(t); code != 0 {
			t.Fatalf("skyflows@secadvisor: exit %d: %s", code, text(ref.journal))
		}
		direct := storedRecords(t, filepath.Join(data, "direct"))
		if got := storedRecords(t, filepath.Join(data, "fromnats")); got != want || got > direct || got < direct-(20000-published) {
			t.Errorf("%d records stored, sky-batch took %d; %d stored by the direct pipeline: %s", got, want, direct, journal)
		} else {
			t.Logf("%d flow updates published, %d records stored (%d by the direct pipeline)", published, got, direct)
		}
	})
	t.Run("another users pipe", func(t *testing.T) {
		if serviceUser() == nil {
			t.Skip("needs root, to run the pipeline as another user than the pipe's")
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		u := readUnit(t, prefix, "dummy", envFile("dummy"))
		s := startService(t, u, w)
		w.Close()
		out, _ := io.ReadAll(r)
		if code := s.wait(t); code != 0 {
			t.Fatalf("exit %d: %s", code, text(s.journal))
		}
		if lines := bytes.Count(out, []byte("\n")); lines != 20001 {
			t.Errorf("%d lines on the pipe, want the header and 20000 flows: %s", lines, text(s.journal))
		}
	})
}

// TestCronLine: deploy/skyflows.cron's command, run by `sh -c` exactly as
// written (its paths substituted) with cron's bare environment, uploads
// what a pipeline left in the spool with the settings of a fresh env file
// alone, and writes its metrics: exit 0. A store that refuses: exit 1,
// the objects kept.
func TestCronLine(t *testing.T) {
	prefix := installed(t)
	s3, data := localS3(t)
	tab, err := os.ReadFile("../deploy/skyflows.cron")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(tab), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			line = l
		}
	}
	fields := strings.Fields(line)
	if len(fields) < 7 {
		t.Fatalf("not a cron.d line: %q", line)
	}
	// minute hour day month weekday user command
	command := strings.SplitN(line, fields[5]+" ", 2)[1]
	run := func(t *testing.T, settings []string) (string, int, string, string) {
		t.Helper()
		dir := t.TempDir()
		envFile, spool, textfile := filepath.Join(dir, "secadvisor.env"), filepath.Join(dir, "spool"), filepath.Join(dir, "textfile")
		os.Mkdir(textfile, 0o755)
		os.WriteFile(envFile, []byte(strings.Join(settings, "\n")+"\n"), 0o600)
		var flows bytes.Buffer
		flowgen.New(3).Write(&flows, 500)
		batch := exec.Command(filepath.Join(prefix, "bin", "sky-batch"), "-q", "--spool", spool, "--max-records", "100")
		batch.Stdin = &flows
		if out, err := batch.CombinedOutput(); err != nil {
			t.Fatalf("sky-batch: %v: %s", err, out)
		}
		cmd := strings.NewReplacer("/etc/skyflows/secadvisor.env", envFile, "/var/spool/skyflows/secadvisor", spool,
			"/opt/skyflows", prefix, "/var/lib/node_exporter/textfile", textfile).Replace(command)
		sh := exec.Command("sh", "-c", cmd)
		sh.Env = []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "HOME=" + dir, "LOGNAME=root"}
		out, _ := sh.CombinedOutput()
		return string(out), sh.ProcessState.ExitCode(), spool, filepath.Join(textfile, "skyflows-s3put.prom")
	}
	out, code, spool, prom := run(t, s3)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if n := storedRecords(t, data); n != 500 {
		t.Errorf("%d records stored, want 500: %s", n, out)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "ready", "*")); len(left) != 0 {
		t.Errorf("%d objects left in the spool", len(left))
	}
	if metrics, err := os.ReadFile(prom); err != nil || !strings.Contains(string(metrics), `skyflows_s3put_objects_stored_total{stage="sky-s3put"} 5`) {
		t.Errorf("metrics file: %v: %s", err, metrics)
	}
	refused := append(append([]string{}, s3...), "SKY_S3_BUCKET=no-such-bucket")
	out, code, spool, _ = run(t, refused)
	if code != 1 || !strings.Contains(out, "NoSuchBucket") {
		t.Errorf("a store that refuses: exit %d: %s", code, out)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "ready", "*")); len(left) != 5 {
		t.Errorf("%d objects left in the spool, want 5", len(left))
	}
}
