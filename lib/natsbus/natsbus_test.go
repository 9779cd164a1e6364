package natsbus

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/stage"
)

// The tests run against a real three-node JetStream cluster that
// scripts/natslocal.sh starts on free local ports.

var natsDir, natsURL string

// natslocal runs scripts/natslocal.sh with the tests' settings.
func natslocal(args ...string) error {
	cmd := exec.Command("../../scripts/natslocal.sh", args...)
	cmd.Env = append(os.Environ(), "NATSLOCAL_DIR="+natsDir, "NATSLOCAL_PORT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("natslocal.sh %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func TestMain(m *testing.M) {
	flag.Parse()
	if flag.Lookup("test.list").Value.String() != "" || flag.Lookup("test.fuzz").Value.String() != "" {
		os.Exit(m.Run()) // listing, or fuzzing the parsers: no cluster
	}
	dir, err := os.MkdirTemp("", "natsbus-")
	if err != nil {
		panic(err)
	}
	natsDir = dir
	if err := natslocal("start", "3"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	port, _ := os.ReadFile(filepath.Join(dir, "port"))
	base, _ := strconv.Atoi(strings.TrimSpace(string(port)))
	natsURL = fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", base, base+1, base+2)
	code := m.Run()
	natslocal("stop")
	os.RemoveAll(dir)
	os.Exit(code)
}

// flows are n generated flows, tagged.
func flows(t testing.TB, seed uint64, n int) []byte {
	var buf, out bytes.Buffer
	flowgen.New(seed).Write(&buf, n)
	for i, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		fmt.Fprintf(&out, "%s,\"Tag\":%q}\n", l[:len(l)-1], []string{"ingress", "egress", "internal"}[i%3])
	}
	return out.Bytes()
}

// publish runs sky-nats publish on input.
func publish(t testing.TB, input io.Reader, args ...string) (string, int) {
	var errw bytes.Buffer
	code := Run(append([]string{"sky-nats", "publish", "--server", natsURL, "--max-backoff", "200ms"}, args...), input, io.Discard, &errw)
	return errw.String(), code
}

// stream makes a fresh R3 stream for a test, named after it, on
// subjects NAME.>, and returns its name.
func stream(t testing.TB) string {
	return makeStream(t, strings.ToUpper(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name())))
}

// makeStream makes the R3 stream NAME on subjects NAME.>.
func makeStream(t testing.TB, name string) string {
	if errs, code := publish(t, strings.NewReader(""), "--create-stream", name, "--replicas", "3", "--subject", name+".{Tag}"); code != 0 {
		t.Fatalf("create stream: %s", errs)
	}
	return name
}

// messages reads every message of a stream back, by its Nats-Msg-Id.
func messages(t testing.TB, name string) map[string]int {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// Just after a node came back, the stream may take a while to take
	// a new consumer: asked again, two minutes at most.
	var s jetstream.Stream
	var cons jetstream.Consumer
	for end := time.Now().Add(2 * time.Minute); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if s, err = js.Stream(ctx, name); err == nil {
			cons, err = s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		}
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, _ := s.Info(ctx)
	seen := map[string]int{}
	for n := uint64(0); n < info.State.Msgs; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			seen[msg.Headers().Get(jetstream.MsgIDHeader)]++
			n++
		}
	}
	return seen
}

// ids are the Nats-Msg-Ids of records, as publish makes them.
func ids(records []byte) map[string]bool {
	want := map[string]bool{}
	for _, l := range bytes.Split(bytes.TrimSpace(records), []byte("\n")) {
		want[msgID(l, [][]string{{"UUID"}, {"Last"}})] = true
	}
	return want
}

// TestNodeKilled: records published to an R3 stream while one node is
// killed (SIGKILL) and started again: every record is in the stream.
func TestNodeKilled(t *testing.T) {
	name := stream(t)
	in := flows(t, 1, 300000)
	pr, pw := io.Pipe()
	done := make(chan string)
	go func() {
		errs, code := publish(t, pr, "--subject", name+".{Tag}")
		done <- fmt.Sprintf("exit %d: %s", code, errs)
	}()
	third := len(in) / 3
	third += bytes.IndexByte(in[third:], '\n') + 1
	pw.Write(in[:third])
	if err := natslocal("kill", "2"); err != nil {
		t.Fatal(err)
	}
	pw.Write(in[third : 2*third])
	if err := natslocal("restart", "2"); err != nil {
		t.Fatal(err)
	}
	pw.Write(in[2*third:])
	pw.Close()
	if res := <-done; !strings.HasPrefix(res, "exit 0") {
		t.Fatal(res)
	}
	seen, want := messages(t, name), ids(in)
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("%s in the stream %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d records in the stream, want %d", len(seen), len(want))
	}
}

// TestRedundantPublishers: two capture hosts publish the same flows: the
// stream holds each flow update once.
func TestRedundantPublishers(t *testing.T) {
	name := stream(t)
	in := flows(t, 2, 20000)
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range 2 {
		wg.Go(func() {
			errs, code := publish(t, bytes.NewReader(in), "--subject", name+".{Tag}")
			results[i] = fmt.Sprintf("exit %d: %s", code, errs)
		})
	}
	wg.Wait()
	for _, r := range results {
		if !strings.HasPrefix(r, "exit 0") {
			t.Fatal(r)
		}
	}
	seen, want := messages(t, name), ids(in)
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("%s in the stream %d times", id, seen[id])
		}
	}
	if !strings.Contains(results[0]+results[1], "duplicates") {
		t.Errorf("no duplicates counted: %v", results)
	}
}

// TestRefusals: bad lines and records over the server's max payload are
// bad input, each named, the rest published; a subject no stream takes,
// and a consumer of a stream that does not exist, exit 1 with a line.
func TestRefusals(t *testing.T) {
	name := stream(t)
	big := `{"UUID":"big","Tag":"x","Pad":"` + strings.Repeat("a", 2<<20) + `"}`
	in := "not json\n" + `{"UUID":"a","Tag":"ingress"}` + "\n" + big + "\n" + `{"UUID":"b",` + "\n" + `{"UUID":"c","Tag":"egress"}` + "\n"
	errs, code := publish(t, strings.NewReader(in), "--subject", name+".{Tag}")
	if code != 0 || !strings.Contains(errs, "line 3: a record of 2097") || !strings.Contains(errs, "line 1:") || !strings.Contains(errs, "line 4:") ||
		!strings.Contains(errs, "out 2 dropped 0 bad 3") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if n := len(messages(t, name)); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
	errs, code = publish(t, strings.NewReader(`{"UUID":"a","Tag":"ingress"}`+"\n"), "--subject", "nowhere.{Tag}")
	if code != 1 || !strings.Contains(errs, "no stream takes the subjects of --subject nowhere.*") {
		t.Errorf("a subject no stream takes: exit %d: %s", code, errs)
	}
	var errw bytes.Buffer
	code = Run([]string{"sky-nats", "consume", "--server", natsURL, "--stream", "NOSUCH"}, nil, io.Discard, &errw)
	if code != 1 || !strings.Contains(errw.String(), "no stream NOSUCH") {
		t.Errorf("a missing stream: exit %d: %s", code, errw.String())
	}
}

func must(out []byte, err error) string {
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(out))
}

// text is what a run wrote so far to a stage.LockedWriter over a
// bytes.Buffer, read under its lock while the run goes on.
func text(l *stage.LockedWriter) string {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.W.(*bytes.Buffer).String()
}

// waitFor waits until cond holds, 60 s at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 60 s for %s", what)
		}
	}
}

// outage is how long TestOutage keeps every server down.
const outage = 30 * time.Second

// TestOutage: every server stopped for 30 s mid-run, then started again:
// publish waits and resumes, consume resumes; every record is published
// once and consumed.
func TestOutage(t *testing.T) {
	name := stream(t)
	in := flows(t, 3, 20000)
	half := len(in) / 2
	half += bytes.IndexByte(in[half:], '\n') + 1
	consumed := filepath.Join(t.TempDir(), "consumed")
	out, err := os.Create(consumed)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	cerr, perr := &stage.LockedWriter{W: &bytes.Buffer{}}, &stage.LockedWriter{W: &bytes.Buffer{}}
	cdone, pdone := make(chan int), make(chan int)
	go func() {
		cdone <- RunContext(ctx, []string{"sky-nats", "consume", "--server", natsURL, "--stream", name, "--max-backoff", "200ms"}, nil, out, cerr)
	}()
	pr, pw := io.Pipe()
	go func() {
		pdone <- Run([]string{"sky-nats", "publish", "--server", natsURL, "--max-backoff", "200ms", "--subject", name + ".{Tag}"}, pr, io.Discard, perr)
	}()
	pw.Write(in[:half])
	lines := func() int { data, _ := os.ReadFile(consumed); return bytes.Count(data, []byte("\n")) }
	first := len(ids(in[:half])) // the stream keeps one of a repeated update
	waitFor(t, "the first half consumed", func() bool { return lines() >= first })
	if err := natslocal("stop"); err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write(in[half:]); pw.Close() }()
	waitFor(t, "the publisher to notice", func() bool { return strings.Contains(text(perr), "disconnected") })
	// The outage lasts 30 s, as long as a restart of a host: the
	// duration of the scenario, not a wait for an event.
	time.Sleep(outage)
	select {
	case code := <-pdone:
		t.Fatalf("publish ended during the outage: exit %d: %s", code, text(perr))
	case code := <-cdone:
		t.Fatalf("consume ended during the outage: exit %d: %s", code, text(cerr))
	default:
	}
	if err := natslocal("start", "3"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-pdone:
		if code != 0 {
			t.Fatalf("publish: exit %d: %s", code, text(perr))
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("publish still running 90 s after the restart: %s", text(perr))
	}
	distinct := len(ids(in)) // a few generated flows repeat an update
	for end := time.Now().Add(60 * time.Second); lines() < distinct; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) || strings.Contains(text(cerr), "stats:") {
			t.Fatalf("%d lines consumed: %s", lines(), text(cerr))
		}
	}
	stop()
	if code := <-cdone; code != 0 {
		t.Fatalf("consume: exit %d: %s", code, text(cerr))
	}
	seen, want := messages(t, name), ids(in)
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("%s in the stream %d times", id, seen[id])
		}
	}
	data, _ := os.ReadFile(consumed)
	got := ids(data)
	for id := range want {
		if !got[id] {
			t.Fatalf("%s never consumed", id)
		}
	}
	t.Logf("%d lines consumed for %d records; consume: %s", lines(), len(want), text(cerr))
}

// BenchmarkPublish: sky-nats publishes 10 000 flows to an R3 stream of
// the three-node cluster, each stored once the stream acknowledged it.
func BenchmarkPublish(b *testing.B) {
	name := stream(b)
	seed := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		seed++
		in := flows(b, seed, 10000)
		b.SetBytes(int64(len(in)))
		b.StartTimer()
		if errs, code := publish(b, bytes.NewReader(in), "--subject", name+".{Tag}"); code != 0 {
			b.Fatalf("exit %d: %s", code, errs)
		}
	}
}

// BenchmarkConsume: sky-nats consume reads 10 000 flows from an R3
// stream through a new durable consumer, each acknowledged once written.
func BenchmarkConsume(b *testing.B) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := makeStream(b, fmt.Sprintf("BENCHCONSUME%d", i))
		in := flows(b, uint64(i), 10000)
		if errs, code := publish(b, bytes.NewReader(in), "--subject", name+".{Tag}"); code != 0 {
			b.Fatalf("exit %d: %s", code, errs)
		}
		b.SetBytes(int64(len(in)))
		ctx, stop := context.WithCancel(context.Background())
		out := &countdown{left: len(ids(in)), stop: stop}
		var errw bytes.Buffer
		b.StartTimer()
		if code := RunContext(ctx, []string{"sky-nats", "consume", "--server", natsURL, "--stream", name}, nil, out, &errw); code != 0 || out.left > 0 {
			b.Fatalf("exit %d, %d records left: %s", code, out.left, errw.String())
		}
		b.StopTimer()
		if err := js.DeleteStream(context.Background(), name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// countdown stops a consumer once it wrote left lines.
type countdown struct {
	left int
	stop context.CancelFunc
}

func (c *countdown) Write(p []byte) (int, error) {
	if c.left -= bytes.Count(p, []byte("\n")); c.left <= 0 {
		c.stop()
	}
	return len(p), nil
}
