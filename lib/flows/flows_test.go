package flows

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyflows/skyflows/lib/analyzertest"
	"github.com/skyflows/skyflows/lib/flowgen"
)

// buffer is a bytes.Buffer safe for a writer and a reader at once.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *buffer) lines() []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// proc is sky-flows running in this process.
type proc struct {
	cancel   context.CancelFunc
	done     chan struct{} // closed at exit, code set
	code     int
	out, err *buffer
}

func start(t *testing.T, out io.Writer, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{cancel: cancel, done: make(chan struct{}), out: &buffer{}, err: &buffer{}}
	if out == nil {
		out = p.out
	}
	go func() {
		p.code = RunContext(ctx, append([]string{"sky-flows"}, args...), nil, out, p.err)
		close(p.done)
	}()
	p.logOnFailure(t)
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
	return p
}

// stop is a SIGINT: it returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
		return p.code
	case <-time.After(10 * time.Second):
		t.Fatalf("sky-flows did not stop; stderr:\n%s", p.err)
		return -1
	}
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// logOnFailure shows sky-flows' stderr when the test fails.
func (p *proc) logOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sky-flows stderr:\n%s", p.err)
		}
	})
}

func genFlows(t *testing.T, seed uint64, n int) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := flowgen.New(seed).Write(&buf, n); err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

func joined(flows [][]byte) string {
	var b strings.Builder
	for _, f := range flows {
		b.Write(f)
		b.WriteByte('\n')
	}
	return b.String()
}

func server(t *testing.T, cfg analyzertest.Config) *analyzertest.Server {
	t.Helper()
	s, err := analyzertest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestSubscribe(t *testing.T) {
	s := server(t, analyzertest.Config{})
	p := start(t, nil, "--analyzer", s.URL())
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	flows := genFlows(t, 1, 1234)
	s.Publish(flows...)
	waitFor(t, "all flows", func() bool { return len(p.out.lines()) == len(flows) })
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d: %s", code, p.err)
	}
	if p.out.String() != joined(flows) {
		t.Fatal("output differs from the flows sent, byte for byte and in order")
	}
	if !strings.Contains(p.err.String(), "stats: frames 13 flows in 1234 out 1234 dropped 0 buffered 0 bad frames 0 reconnects 0") {
		t.Errorf("stats: %s", p.err)
	}
}

func TestCaptureNamespace(t *testing.T) {
	s := server(t, analyzertest.Config{})
	flows := genFlows(t, 2, 400)
	capture := string(flows[0][bytes.Index(flows[0], []byte(`"CaptureID":"`))+13:][:36])
	all := start(t, nil, "--analyzer", s.URL(), "--host-id", "all")
	one := start(t, nil, "--analyzer", s.URL(), "--host-id", "one", "--capture-id", capture)
	if err := s.WaitSubscribers(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var mine [][]byte
	for _, f := range flows {
		if bytes.Contains(f, []byte(capture)) {
			mine = append(mine, f)
		}
	}
	if len(mine) == 0 || len(mine) == len(flows) {
		t.Fatalf("bad fixture: %d of %d flows in capture %s", len(mine), len(flows), capture)
	}
	s.Publish(flows...)
	waitFor(t, "flows", func() bool { return len(all.out.lines()) == len(flows) && len(one.out.lines()) == len(mine) })
	all.stop(t)
	one.stop(t)
	if one.out.String() != joined(mine) {
		t.Error("the capture subscriber got other flows")
	}
}

func TestAuth(t *testing.T) {
	s := server(t, analyzertest.Config{Username: "exporter", Password: "s3cret-test"})
	p := start(t, nil, "--analyzer", s.URL(), "--username", "exporter", "--password", "wrong")
	select {
	case <-p.done:
		if p.code != 1 || !strings.Contains(p.err.String(), "HTTP 401") {
			t.Errorf("exit %d: %s", p.code, p.err)
		}
		if strings.Contains(p.err.String(), "wrong") && !strings.Contains(p.err.String(), "wrong or missing") {
			t.Errorf("password in the log: %s", p.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bad credentials did not stop sky-flows")
	}

	t.Setenv("SKY_ANALYZER_PASSWORD", "s3cret-test")
	p = start(t, nil, "--analyzer", s.URL(), "--username", "exporter")
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatalf("%v: %s", err, p.err)
	}
	s.Publish(genFlows(t, 3, 10)...)
	waitFor(t, "flows", func() bool { return len(p.out.lines()) == 10 })
	p.stop(t)
	if strings.Contains(p.err.String(), "s3cret") {
		t.Errorf("password in the log: %s", p.err)
	}
}

func TestHostIDInUse(t *testing.T) {
	s := server(t, analyzertest.Config{})
	start(t, nil, "--analyzer", s.URL(), "--host-id", "same")
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, "--analyzer", s.URL(), "--host-id", "same", "--max-retries", "1", "--max-backoff", "100ms")
	select {
	case <-p.done:
		if p.code != 1 || !strings.Contains(p.err.String(), `host id "same": another subscriber with this host id is connected (HTTP 409`) {
			t.Errorf("exit %d: %s", p.code, p.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no give-up")
	}
}

func TestRefusedAfterUpgrade(t *testing.T) {
	s := server(t, analyzertest.Config{})
	p := start(t, nil, "--analyzer", s.URL(), "--client-type", "", "--max-retries", "1", "--max-backoff", "100ms")
	<-p.done
	if !strings.Contains(p.err.String(), "closed the connection right after the upgrade") {
		t.Errorf("stderr: %s", p.err)
	}
}

func TestTLS(t *testing.T) {
	tlsCfg, caPEM, err := analyzertest.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	s := server(t, analyzertest.Config{TLS: tlsCfg})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o644)

	p := start(t, nil, "--analyzer", s.URL(), "--max-retries", "1", "--max-backoff", "100ms")
	<-p.done
	if !strings.Contains(p.err.String(), "certificate signed by unknown authority") {
		t.Errorf("unverified TLS accepted: %s", p.err)
	}
	for _, args := range [][]string{{"--ca-file", ca}, {"--insecure-skip-verify"}} {
		p := start(t, nil, append([]string{"--analyzer", s.URL()}, args...)...)
		if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
			t.Fatalf("%v: %v: %s", args, err, p.err)
		}
		s.Publish(genFlows(t, 4, 5)...)
		waitFor(t, "flows", func() bool { return len(p.out.lines()) == 5 })
		p.stop(t)
		waitFor(t, "unsubscribe", func() bool { return s.Subscribers() == 0 })
	}
}

// TestReconnect: the analyzer restarts; no flow sent while connected is
// lost or doubled.
func TestReconnect(t *testing.T) {
	s := server(t, analyzertest.Config{})
	p := start(t, nil, "--analyzer", s.URL(), "--max-backoff", "200ms")
	flows := genFlows(t, 5, 1000)
	for round := range 3 {
		if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		s.Publish(flows[round*300 : round*300+300]...)
		s.Flush()
		s.Stop()
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Publish(flows[900:]...)
	waitFor(t, "all flows", func() bool { return len(p.out.lines()) >= len(flows) })
	p.stop(t)
	if p.out.String() != joined(flows) {
		t.Fatalf("flows lost or doubled: %d lines", len(p.out.lines()))
	}
	if !strings.Contains(p.err.String(), "reconnects 3") {
		t.Errorf("stats: %s", p.err)
	}
}

// TestDeadConnection: the analyzer stops sending anything, pings
// included, without closing; sky-flows notices within --read-timeout.
func TestDeadConnection(t *testing.T) {
	s := server(t, analyzertest.Config{PingInterval: 100 * time.Millisecond})
	p := start(t, nil, "--analyzer", s.URL(), "--read-timeout", "1s", "--max-backoff", "100ms")
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // pings keep a quiet connection alive
	if strings.Contains(p.err.String(), "connection dead") {
		t.Fatalf("reconnected although pings came: %s", p.err)
	}
	s.Freeze()
	waitFor(t, "dead connection noticed", func() bool { return strings.Contains(p.err.String(), "connection dead") })
	s.Thaw()
	waitFor(t, "resubscribed", func() bool { return s.Stats().Accepted == 2 && s.Subscribers() == 1 })
	s.Publish(genFlows(t, 6, 10)...)
	waitFor(t, "flows", func() bool { return len(p.out.lines()) == 10 })
	p.stop(t)
}

func TestIdleReconnect(t *testing.T) {
	s := server(t, analyzertest.Config{PingInterval: 50 * time.Millisecond})
	p := start(t, nil, "--analyzer", s.URL(), "--idle-reconnect", "300ms", "--max-backoff", "100ms")
	waitFor(t, "idle reconnect", func() bool { return s.Stats().Accepted >= 2 })
	p.stop(t)
	if !strings.Contains(p.err.String(), "no flow frame for 300ms (--idle-reconnect)") {
		t.Errorf("stderr: %s", p.err)
	}
}

func TestFailover(t *testing.T) {
	s := server(t, analyzertest.Config{})
	p := start(t, nil, "--failover", "--analyzer", "ws://127.0.0.1:1", "--analyzer", s.URL())
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatalf("%v: %s", err, p.err)
	}
	p.stop(t)
}

// blockedWriter stands for a downstream that stops reading until released.
type blockedWriter struct {
	release chan struct{}
	out     buffer
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.out.Write(p)
}

// TestSlowDownstream: stdout stops taking flows; the analyzer's writes
// never block, flows spill to disk, and every one arrives in order, once.
func TestSlowDownstream(t *testing.T) {
	s := server(t, analyzertest.Config{})
	w := &blockedWriter{release: make(chan struct{})}
	dir := t.TempDir()
	p := start(t, w, "--analyzer", s.URL(), "--buffer-size", "200000", "--buffer-dir", dir)
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	flows := genFlows(t, 7, 20000)
	s.Publish(flows...)
	s.Flush()
	// 20 MB of flows, more than the socket buffers: Flush returns once
	// the analyzer wrote them all. Held back, its writes would time out
	// (10 s) and drop the subscriber, or its queue would refuse flows.
	if st := s.Stats(); st.Dropped > 0 || s.Subscribers() != 1 {
		t.Errorf("the analyzer was held back: %+v, %d subscribers", st, s.Subscribers())
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Error("nothing spilled to disk")
	}
	close(w.release)
	waitFor(t, "all flows", func() bool { return len(w.out.lines()) == len(flows) })
	p.stop(t)
	if w.out.String() != joined(flows) {
		t.Fatal("flows lost, doubled or out of order")
	}
}

// TestDropCounted: with memory and disk full, flows are dropped and counted.
func TestDropCounted(t *testing.T) {
	s := server(t, analyzertest.Config{})
	w := &blockedWriter{release: make(chan struct{})}
	p := start(t, w, "--analyzer", s.URL(), "--buffer-size", "100000", "--buffer-disk-size", "100000")
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Publish(genFlows(t, 8, 3000)...)
	s.Flush()
	waitFor(t, "drop warning", func() bool { return strings.Contains(p.err.String(), "dropping flows") })
	close(w.release)
	p.stop(t)
	var in, out, dropped, buffered int
	stats := p.err.String()[strings.LastIndex(p.err.String(), "stats: "):]
	fmt.Sscanf(stats, "stats: frames %d flows in %d out %d dropped %d buffered %d", new(int), &in, &out, &dropped, &buffered)
	if in != 3000 || dropped == 0 || out+dropped+buffered != in || len(w.out.lines()) != out {
		t.Errorf("counts do not add up: %s (%d lines out)", stats, len(w.out.lines()))
	}
}

func TestBadFrames(t *testing.T) {
	s := server(t, analyzertest.Config{})
	dead := filepath.Join(t.TempDir(), "dead")
	p := start(t, nil, "--analyzer", s.URL(), "--dead-letter", dead)
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		`not json`,
		`{"Namespace":"flow","Type":"store","Obj":{"x":1}}`,
		`{"Namespace":"flow","Type":"weird","Obj":[]}`,
		`{"Namespace":"flow","Type":"store","Obj":[1,2]}`,
		`not json either`,
	}
	for _, f := range bad {
		s.SendRaw([]byte(f))
	}
	flows := genFlows(t, 9, 3)
	s.Publish(flows...)
	waitFor(t, "flows", func() bool { return len(p.out.lines()) == 3 })
	p.stop(t)
	errs := p.err.String()
	for _, want := range []string{"frame is not a JSON object", "Obj is not an array", `unknown message type "weird"`, "flow that is not a JSON object", "bad frames 5"} {
		if strings.Count(errs, want) != 1 {
			t.Errorf("want %q once in:\n%s", want, errs)
		}
	}
	kept, _ := os.ReadFile(dead)
	if string(kept) != strings.Join(bad, "\n")+"\n" {
		t.Errorf("dead letter: %q", kept)
	}
}

// TestRecordReplay: what --record keeps, --replay gives back.
func TestRecordReplay(t *testing.T) {
	s := server(t, analyzertest.Config{})
	rec := filepath.Join(t.TempDir(), "frames")
	p := start(t, nil, "--analyzer", s.URL(), "--record", rec)
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	flows := genFlows(t, 10, 250)
	s.Publish(flows...)
	waitFor(t, "flows", func() bool { return len(p.out.lines()) == 250 })
	p.stop(t)

	for _, args := range [][]string{{}, {"--realtime"}, {"--rate", "100000"}} {
		var out, errw bytes.Buffer
		code := Run(append([]string{"sky-flows", "-q", "--replay", rec}, args...), nil, &out, &errw)
		if code != 0 || out.String() != joined(flows) {
			t.Errorf("replay %v: exit %d, %d bytes: %s", args, code, out.Len(), errw.String())
		}
	}
}

// TestReplayFixtures: the frames recorded from a real analyzer give their
// flows back byte for byte.
func TestReplayFixtures(t *testing.T) {
	want, err := os.ReadFile("../../testdata/flows/recorded.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	f, _ := os.Open("../../testdata/analyzer/frames-flow.ndjson")
	defer f.Close()
	if code := Run([]string{"sky-flows", "--replay", "-"}, f, &out, &errw); code != 0 || out.String() != string(want) {
		t.Fatalf("exit %d, output differs: %s", code, errw.String())
	}
	// Without a namespace the analyzer interleaves stats messages: skipped.
	out.Reset()
	if code := Run([]string{"sky-flows", "--replay", "../../testdata/analyzer/frames-no-namespace.ndjson"}, nil, &out, &errw); code != 0 {
		t.Fatal(errw.String())
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte(`{"UUID":`)) {
			t.Fatalf("not a flow: %s", sc.Bytes())
		}
		n++
	}
	if n != 18 {
		t.Errorf("%d flows from the no-namespace recording, want 18", n)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--analyzer", "ftp://x"}, {"--rate", "5"}, {"--replay", "x", "--rate", "5", "--realtime"},
		{"--cert-file", "x"}, {"--ca-file", "/nonexistent"}, {"extra"},
	} {
		var errw bytes.Buffer
		if code := Run(append([]string{"sky-flows"}, args...), nil, io.Discard, &errw); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errw.String())
		}
	}
	var errw bytes.Buffer
	Run([]string{"sky-flows", "--analyzer", "ws://user:topsecret@127.0.0.1:1", "--max-retries", "1", "--max-backoff", "10ms"}, nil, io.Discard, &errw)
	if strings.Contains(errw.String(), "topsecret") || !strings.Contains(errw.String(), "user:xxxxx@") {
		t.Errorf("password shown: %s", errw.String())
	}
}

func BenchmarkReplay(b *testing.B) {
	var frames bytes.Buffer
	if err := flowgen.New(1).WriteFrames(&frames, 10000, 100); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(frames.Len()))
	for b.Loop() {
		if code := Run([]string{"sky-flows", "-q", "--replay", "-"}, bytes.NewReader(frames.Bytes()), io.Discard, io.Discard); code != 0 {
			b.Fatal(code)
		}
	}
}

// TestBackoffStartsOver: an analyzer that drops every connection after 5
// frames, as a restarting one does, loses nothing to a backoff that only
// grows: each connection delivered flows, so the next one comes at once.
func TestBackoffStartsOver(t *testing.T) {
	data, err := os.ReadFile("../../testdata/analyzer/frames-flow.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	recorded := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	s := server(t, analyzertest.Config{CloseAfter: 5})
	p := start(t, nil, "--analyzer", s.URL(), "--max-backoff", "30s")
	started, want := time.Now(), 0
	for i := range 56 {
		frame := recorded[i%len(recorded)]
		want += strings.Count(string(frame), `"UUID":"`) - 1 // the message's own UUID
		if err := s.WaitSubscribers(1, 10*time.Second); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		s.SendRaw(frame)
		s.Flush()
	}
	waitFor(t, "every flow", func() bool { return len(p.out.lines()) >= want })
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("56 frames took %s", took)
	}
	p.stop(t)
	if got := len(p.out.lines()); got != want {
		t.Errorf("%d flows, want %d", got, want)
	}
}

// TestEveryAnalyzer: each analyzer sends only its own agents' flows;
// sky-flows hears them all, merged.
func TestEveryAnalyzer(t *testing.T) {
	a, b := server(t, analyzertest.Config{}), server(t, analyzertest.Config{})
	file := filepath.Join(t.TempDir(), "flows.prom")
	p := start(t, nil, "--analyzer", a.URL(), "--analyzer", b.URL(), "--metrics-file", file)
	for _, s := range []*analyzertest.Server{a, b} {
		if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb := genFlows(t, 11, 500), genFlows(t, 12, 700)
	a.Publish(fa...)
	b.Publish(fb...)
	waitFor(t, "every flow", func() bool { return len(p.out.lines()) >= 1200 })
	p.stop(t)
	got := p.out.lines()
	slices.Sort(got)
	want := strings.Split(strings.TrimSpace(joined(fa)+joined(fb)), "\n")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%d flows out, want the 1200 of both analyzers", len(got))
	}
	if !strings.Contains(p.err.String(), a.URL()) || !strings.Contains(p.err.String(), "flows 700") {
		t.Errorf("no stats per analyzer: %s", p.err)
	}
	data, _ := os.ReadFile(file)
	for _, want := range []string{
		fmt.Sprintf(`skyflows_flows_analyzer_flows_total{analyzer="%s/ws/subscriber/flow",stage="sky-flows"} 500`, a.URL()),
		fmt.Sprintf(`skyflows_flows_analyzer_flows_total{analyzer="%s/ws/subscriber/flow",stage="sky-flows"} 700`, b.URL()),
		`skyflows_records_out_total{stage="sky-flows"} 1200`,
	} {
		if !strings.Contains(string(data), want+"\n") {
			t.Errorf("no %s in the metrics:\n%s", want, data)
		}
	}
}

// TestFlushAfterASubscriberLeft: the analyzer drops a subscriber while
// frames are still queued for it; the test analyzer's Flush returns (it
// waited for ever for frames no one would send, and oneshot.txtar, whose
// sky-flows --count leaves with frames queued, hung in CI until go test's
// timeout).
func TestFlushAfterASubscriberLeft(t *testing.T) {
	s := server(t, analyzertest.Config{CloseAfter: 1})
	start(t, nil, "--analyzer", s.URL())
	if err := s.WaitSubscribers(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Publish(genFlows(t, 9, 500)...) // five frames; the first closes it
	flushed := make(chan struct{})
	go func() { s.Flush(); close(flushed) }()
	select {
	case <-flushed:
	case <-time.After(30 * time.Second):
		t.Fatal("Flush still waiting 30 s after the subscriber was dropped")
	}
}
