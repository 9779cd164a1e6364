package clitest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// natsCluster starts a three-node JetStream cluster with
// scripts/natslocal.sh on free ports for t; it returns the servers' URL
// and the script, to kill and restart nodes.
func natsCluster(t *testing.T) (string, func(args ...string)) {
	t.Helper()
	dir := t.TempDir()
	script := func(args ...string) {
		cmd := exec.Command("../scripts/natslocal.sh", args...)
		cmd.Env = append(os.Environ(), "NATSLOCAL_DIR="+dir, "NATSLOCAL_PORT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("natslocal.sh %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { script("stop") }) // what started, if the start failed
	script("start", "3")
	port, _ := os.ReadFile(filepath.Join(dir, "port"))
	base, _ := strconv.Atoi(strings.TrimSpace(string(port)))
	return fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", base, base+1, base+2), script
}

// pipelineProc is a shell pipeline running in its own process group.
type pipelineProc struct {
	cmd    *exec.Cmd
	stderr *outFile
	done   chan error
}

func startPipeline(t *testing.T, env []string, line string) *pipelineProc {
	t.Helper()
	p := &pipelineProc{stderr: &outFile{t: t}, done: make(chan error, 1)}
	p.cmd = exec.Command("bash", "-c", line)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, io.Discard, p.stderr.open()
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) })
	go func() { p.done <- p.cmd.Wait() }()
	return p
}

// signal sends sig to the pipeline's processes named name.
func (p *pipelineProc) signal(t *testing.T, name string, sig syscall.Signal) {
	t.Helper()
	pids := groupMembers(p.cmd.Process.Pid, name)
	if len(pids) == 0 {
		t.Fatalf("no %s in the pipeline", name)
	}
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
}

func (p *pipelineProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("pipeline still running after 2 minutes: %s", p.stderr)
		return nil
	}
}

// bucketRecords counts the records of the bucket's gzip NDJSON objects
// by flow update (UUID and Last).
func bucketRecords(t *testing.T, dir string) (map[string]int, int) {
	t.Helper()
	seen, objects := map[string]int{}, 0
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(path, ".gz") {
			return err
		}
		objects++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, _ := io.ReadAll(zr)
		for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var r struct {
				UUID string
				Last int64
			}
			json.Unmarshal(l, &r)
			seen[fmt.Sprintf("%s:%d", r.UUID, r.Last)]++
		}
		return nil
	})
	return seen, objects
}

// TestNatsStoreWorkers: capture publishes 300 000 flows to an R3 stream
// of a three-node cluster while three store workers share one durable
// consumer into one bucket. Mid-run a JetStream node is killed (SIGKILL)
// and restarted, one worker's sky-nats consume is killed, then another's
// sky-batch, which is started again on its spool. Every flow update
// published is in the bucket at least once; the duplicates, of messages
// in flight at a kill, are counted and reported.
func TestNatsStoreWorkers(t *testing.T) {
	prefix := installed(t)
	s3, data := localS3(t)
	url, natslocal := natsCluster(t)
	dir := t.TempDir()
	env := append([]string{"PATH=" + filepath.Join(prefix, "bin") + ":/usr/bin:/bin", "HOME=" + dir, "SKY_NATS_URL=" + url,
		"SKY_NATS_REPLICAS=3", "SKY_CLUSTER_NETS=10.0.0.0/8"}, s3...)
	const n = 300000
	frames, err := exec.Command(filepath.Join(prefix, "bin", "sky-genflows"), "-n", fmt.Sprint(n), "--frames", "100", "--seed", "11").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	flows, _ := exec.Command(filepath.Join(prefix, "bin", "sky-genflows"), "-n", fmt.Sprint(n), "--seed", "11").Output()
	for _, l := range bytes.Split(bytes.TrimSpace(flows), []byte("\n")) {
		var r struct {
			UUID string
			Last int64
		}
		json.Unmarshal(l, &r)
		want[fmt.Sprintf("%s:%d", r.UUID, r.Last)] = true
	}

	// Capture, as the ready pipeline runs it, from a recording; the
	// stream is made before the workers start.
	create := exec.Command(filepath.Join(prefix, "bin", "sky-nats"), "publish", "--create-stream", "FLOWS", "--replicas", "3")
	create.Env = env
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("sky-nats publish --create-stream FLOWS: %v: %s", err, out)
	}
	// The recording reaches capture through a FIFO: its second half only
	// once the node is killed, so the kill falls while capture publishes.
	fifo := filepath.Join(dir, "capture.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	capture := startPipeline(t, append(env, "SKY_REPLAY="+fifo, "SKY_ENRICH=false"), filepath.Join(prefix, "scripts", "capture"))
	opened := make(chan *os.File, 1)
	go func() { f, _ := os.OpenFile(fifo, os.O_WRONLY, 0); opened <- f }()
	var feed *os.File
	select {
	case feed = <-opened:
	case err := <-capture.done:
		t.Fatalf("scripts/capture ended before it opened its recording: %v: %s", err, capture.stderr)
	}
	defer feed.Close()
	mid := bytes.IndexByte(frames[len(frames)/2:], '\n') + len(frames)/2 + 1
	fed := make(chan error, 1)
	go func() { _, err := feed.Write(frames[:mid]); fed <- err }()
	worker := func(i int) *pipelineProc {
		spool := filepath.Join(dir, fmt.Sprintf("spool%d", i))
		return startPipeline(t, env, "sky-nats consume --durable store --ack-wait 3s --max-ack-pending 2000 --batch 200"+
			" | sky-batch --spool "+spool+" --max-records 500 | sky-s3put --spool "+spool)
	}
	workers := []*pipelineProc{worker(1), worker(2), worker(3)}
	objects := func() int { _, n := bucketRecords(t, data); return n }
	waitUntil(t, "10 objects in the bucket", func() bool { return objects() >= 10 })
	if err := <-fed; err != nil {
		t.Fatalf("the first half of the recording to capture: %v", err)
	}
	natslocal("kill", "3")
	go func() {
		_, err := feed.Write(frames[mid:])
		feed.Close()
		fed <- err
	}()
	workers[0].signal(t, "sky-nats", syscall.SIGKILL)
	waitUntil(t, "40 objects in the bucket", func() bool { return objects() >= 40 })
	natslocal("restart", "3")
	workers[1].signal(t, "sky-batch", syscall.SIGKILL)
	workers[1].wait(t)
	workers[1] = worker(2) // its spool's journal holds what sky-batch had read
	if err := <-fed; err != nil {
		t.Fatalf("the second half of the recording to capture: %v", err)
	}
	if err := capture.wait(t); err != nil {
		t.Fatalf("scripts/capture: %v: %s", err, capture.stderr)
	}

	// Everything delivered and acknowledged: the workers may stop.
	waitUntil(t, "the consumer to have nothing pending", func() bool { return consumed(url, "store") })
	for _, w := range workers[1:] {
		w.signal(t, "sky-nats", syscall.SIGTERM)
		if err := w.wait(t); err != nil {
			t.Errorf("a worker stopped by SIGTERM: %v: %s", err, w.stderr)
		}
	}
	workers[0].wait(t) // its consume was killed: the rest drained

	seen, _ := bucketRecords(t, data)
	dups := 0
	for id := range want {
		if seen[id] == 0 {
			t.Fatalf("%s never stored", id)
		}
		dups += seen[id] - 1
	}
	t.Logf("%d flow updates published, all stored; %d stored twice or more (in flight at a kill)", len(want), dups)
	if dups > 3*2000+1000 {
		t.Errorf("%d duplicates: more than the messages in flight at the kills", dups)
	}

	// A ready store pipeline from JetStream: SKY_SOURCE=nats.
	dummy := exec.Command("bash", "-c", "set -o pipefail; SKY_SOURCE=nats SKY_NATS_DURABLE=readback "+filepath.Join(prefix, "scripts", "dummy")+" | head -n 5")
	dummy.Env = env
	out, err := dummy.Output()
	if err != nil || bytes.Count(out, []byte("\n")) != 5 {
		t.Errorf("SKY_SOURCE=nats scripts/dummy | head -n 5: %v: %s", err, out)
	}
}

// waitUntil waits for cond, 2 minutes at most.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 2 minutes for %s", what)
		}
	}
}
