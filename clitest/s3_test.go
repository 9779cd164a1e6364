package clitest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// s3Cmd runs a versitygw for the script with scripts/s3local.sh:
//
//	s3 start    on a free port, data in $WORK/s3; sets AWS_* and SKY_S3_*
//	s3 stop | s3 restart
func s3Cmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: s3 start|stop|restart")
	}
	addr := ts.Getenv("S3LOCAL_ADDR")
	if args[0] == "start" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		addr = ln.Addr().String()
		ln.Close()
		ts.Setenv("S3LOCAL_ADDR", addr)
		ts.Setenv("S3LOCAL_DIR", ts.MkAbs("s3"))
		ts.Setenv("S3LOCAL_BUCKET", "")
		for k, v := range map[string]string{
			"AWS_ACCESS_KEY_ID": "skyflows", "AWS_SECRET_ACCESS_KEY": "skyflows-local-secret", "AWS_REGION": "us-east-1",
			"SKY_S3_ENDPOINT": "http://" + addr, "SKY_S3_BUCKET": "flows", "SKY_S3_PATH_STYLE": "true",
		} {
			ts.Setenv(k, v)
		}
	}
	for _, step := range map[string][]string{"start": {"start"}, "stop": {"stop"}, "restart": {"stop", "start"}}[args[0]] {
		cmd := exec.Command(filepath.Join(ts.Getenv("SCRIPTS"), "s3local.sh"), step)
		cmd.Env = append(os.Environ(), "S3LOCAL_ADDR="+addr, "S3LOCAL_DIR="+ts.Getenv("S3LOCAL_DIR"), "S3LOCAL_BUCKET=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			ts.Fatalf("s3local.sh %s: %v: %s", step, err, out)
		}
	}
}

// stopS3 stops a script's versitygw, if it started one.
func stopS3(work string) {
	if _, err := os.Stat(filepath.Join(work, "s3", "pid")); err != nil {
		return
	}
	cmd := exec.Command("../scripts/s3local.sh", "stop")
	cmd.Env = append(os.Environ(), "S3LOCAL_DIR="+filepath.Join(work, "s3"))
	cmd.Run()
}

// TestS3LocalPortTaken: scripts/s3local.sh start refuses a port another
// process listens on, and says so, rather than report a server it did
// not start.
func TestS3LocalPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cmd := exec.Command("../scripts/s3local.sh", "start")
	cmd.Env = append(os.Environ(), "S3LOCAL_ADDR="+ln.Addr().String(), "S3LOCAL_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is taken by another process") {
		t.Errorf("%v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "pid")); err == nil {
		t.Error("a server was left running")
	}
}

// TestS3LocalBusyServer: scripts/s3local.sh start sees its server listen
// when the server holds many files open, as versitygw does while the
// tests' uploads retry against it after a restart: `ls | grep -q` under
// pipefail failed when grep had found the socket and ls was still
// writing, and the start gave up on a server that served.
func TestS3LocalBusyServer(t *testing.T) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil || limit.Max < 4096 {
		t.Skipf("the fake server cannot hold 3 000 files open (hard limit %d)", limit.Max)
	}
	bin := t.TempDir()
	// A versitygw that listens, on its first descriptor, once it holds
	// 3 000 files open: ls lists the socket first and writes more than a
	// pipe holds after it.
	fake := `#!/usr/bin/env python3
import os, resource, socket, sys, time
host, port = sys.argv[sys.argv.index("--port") + 1].rsplit(":", 1)
os.close(0)
s = socket.socket()
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
files = [open(os.devnull) for _ in range(3000)]
s.bind((host, int(port)))
s.listen()
time.sleep(600)
`
	if err := os.WriteFile(filepath.Join(bin, "versitygw"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "S3LOCAL_ADDR="+addr, "S3LOCAL_DIR="+t.TempDir(), "S3LOCAL_BUCKET=")
	run := func(step string) {
		cmd := exec.Command("../scripts/s3local.sh", step)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("s3local.sh %s: %v: %s", step, err, out)
		}
	}
	defer run("stop")
	run("start")
}
