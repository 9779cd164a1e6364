package stage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"
)

// evens is a processor that keeps even numbers, drops odd ones and
// refuses anything else.
type evens struct{ w *bufio.Writer }

func (e evens) Record(line []byte) (bool, error) {
	var n int
	if _, err := fmt.Sscanf(string(line), "%d", &n); err != nil {
		return false, BadInput(errors.New("not a number"))
	}
	if n%2 != 0 {
		return false, nil
	}
	e.w.Write(line)
	return true, e.w.WriteByte('\n')
}

func (evens) Close() error { return nil }

// preparedEvens is evens as a Preparer: numbers parsed ahead, kept in order.
type preparedEvens struct{ evens }

func (e preparedEvens) Prepare(line []byte) (any, error) {
	var n int
	if _, err := fmt.Sscanf(string(line), "%d", &n); err != nil {
		return nil, errors.New("not a number")
	}
	return n, nil
}

func (e preparedEvens) Process(v any) (bool, error) {
	n := v.(int)
	if n%2 != 0 {
		return false, nil
	}
	fmt.Fprintf(e.w, "%d\n", n)
	return true, nil
}

// prefetchedEvens is preparedEvens as a Prefetcher: it fails a number
// processed before Prefetch handed it over.
type prefetchedEvens struct {
	preparedEvens
	ahead []int
}

func (e *prefetchedEvens) Prefetch(values []any) {
	if len(e.ahead) > 0 {
		e.ahead = append(e.ahead, -1) // a chunk prefetched before the last was processed
	}
	for _, v := range values {
		if n, ok := v.(int); ok {
			e.ahead = append(e.ahead, n)
		}
	}
}

func (e *prefetchedEvens) Process(v any) (bool, error) {
	if len(e.ahead) == 0 || e.ahead[0] != v.(int) {
		return false, fmt.Errorf("%d processed, not prefetched (ahead: %.5v)", v, e.ahead)
	}
	e.ahead = e.ahead[1:]
	return e.preparedEvens.Process(v)
}

func stageFor(mode string) Lines {
	does := map[string]Does{"prepared": Prepares, "prefetched": Prepares | Prefetches}[mode]
	return Lines{Name: "evens", Parallel: mode == "parallel", Does: does, Open: func(_ *cli.Context, w *bufio.Writer) (Processor, error) {
		switch mode {
		case "prepared":
			return preparedEvens{evens{w}}, nil
		case "prefetched":
			return &prefetchedEvens{preparedEvens: preparedEvens{evens{w}}}, nil
		}
		return evens{w}, nil
	}}
}

// input is many chunks of numbers with bad lines here and there.
func input() (in, want string, bad []string) {
	var b, w strings.Builder
	for i := range 50000 {
		switch {
		case i%9973 == 5:
			fmt.Fprintf(&b, "bad%d\n", i)
			bad = append(bad, fmt.Sprintf("evens: line %d: not a number", i+1))
		case i%2 == 0:
			fmt.Fprintf(&b, "%d\n", i)
			fmt.Fprintf(&w, "%d\n", i)
		default:
			fmt.Fprintf(&b, "%d\n", i)
		}
	}
	return b.String(), w.String(), bad
}

func TestSerialAndParallelAgree(t *testing.T) {
	in, want, bad := input()
	for _, parallel := range []string{"serial", "parallel", "prepared", "prefetched", "prefetched on one core"} {
		if strings.HasSuffix(parallel, "on one core") {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		}
		dead := filepath.Join(t.TempDir(), "dead")
		var out, errw bytes.Buffer
		code := stageFor(strings.TrimSuffix(parallel, " on one core")).Run([]string{"evens", "--dead-letter", dead}, strings.NewReader(in), &out, &errw)
		if code != 0 || out.String() != want {
			t.Fatalf("mode %s: exit %d, output differs: %.300s", parallel, code, errw.String())
		}
		msgs := strings.Split(strings.TrimSpace(errw.String()), "\n")
		if strings.Join(msgs[:len(msgs)-1], "\n") != strings.Join(bad, "\n") {
			t.Errorf("mode %s: errors %q, want %q", parallel, msgs, bad)
		}
		if last := msgs[len(msgs)-1]; !strings.HasPrefix(last, fmt.Sprintf("evens: stats: in 50000 out %d dropped %d bad %d elapsed ", strings.Count(want, "\n"), 50000-strings.Count(want, "\n")-len(bad), len(bad))) {
			t.Errorf("mode %s: %s", parallel, last)
		}
		kept, _ := os.ReadFile(dead)
		if strings.Count(string(kept), "bad") != len(bad) {
			t.Errorf("mode %s: dead letters %q", parallel, kept)
		}
	}
}

func TestFailStopsAtTheBadLine(t *testing.T) {
	in, want, _ := input()
	// Everything before line 6 (bad5) and nothing after.
	before := want[:strings.Index(want, "6\n")]
	for _, parallel := range []string{"serial", "parallel", "prepared"} {
		var out, errw bytes.Buffer
		code := stageFor(parallel).Run([]string{"evens", "--on-error", "fail"}, strings.NewReader(in), &out, &errw)
		var in, unwritten int
		_, err := fmt.Sscanf(errw.String(), "evens: stats: in %d out 3 dropped 2 bad 1 unwritten %d ", &in, &unwritten)
		if code != 1 || out.String() != before || err != nil || in != 6+unwritten ||
			!strings.Contains(errw.String(), fmt.Sprintf("\nevens: line 6: not a number; %d records read were not written\n", unwritten)) {
			t.Errorf("mode %s: exit %d, out %q, err %q", parallel, code, out.String(), errw.String())
		}
	}
}

// failingWriter takes n bytes, then fails every write.
type failingWriter struct {
	n   int
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	n := f.n
	f.n = 0
	return n, f.err
}

// A write error stops the stage: exit 1, no line counted bad, and the
// stats add up, with the records whose output was lost as unwritten.
func TestWriteErrorStops(t *testing.T) {
	var b, w strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&b, "%d\n", i)
		if i%2 == 0 {
			fmt.Fprintf(&w, "%d\n", i)
		}
	}
	in, want := b.String(), w.String()
	for _, mode := range []string{"serial", "parallel", "prepared"} {
		for _, room := range []int{0, 1000, 100000} {
			out := &failingWriter{n: room, err: syscall.ENOSPC}
			var errw bytes.Buffer
			code := stageFor(mode).Run([]string{"evens"}, strings.NewReader(in), out, &errw)
			var n, kept, dropped, bad, unwritten int
			_, err := fmt.Sscanf(errw.String()[strings.Index(errw.String(), "evens: stats:"):],
				"evens: stats: in %d out %d dropped %d bad %d unwritten %d", &n, &kept, &dropped, &bad, &unwritten)
			if code != 1 || err != nil || bad != 0 || n != kept+dropped+unwritten || unwritten == 0 ||
				!strings.Contains(errw.String(), "no space left on device") {
				t.Fatalf("mode %s, room %d: exit %d, %q (%v)", mode, room, code, errw.String(), err)
			}
			// What got out is whole lines, every one of them counted out.
			delivered := want[:room]
			if i := strings.LastIndexByte(delivered, '\n'); i >= 0 {
				delivered = delivered[:i+1]
			} else {
				delivered = ""
			}
			if got := strings.Count(delivered, "\n"); got != kept {
				t.Errorf("mode %s, room %d: %d lines out, %d counted", mode, room, got, kept)
			}
		}
	}
}

// holder holds back the last record until Close, as a stage with state does.
type holder struct {
	w    *bufio.Writer
	held []byte
	got  chan struct{}
}

func (h *holder) Record(line []byte) (bool, error) {
	if h.held != nil {
		h.w.Write(h.held)
		h.w.WriteByte('\n')
	}
	h.held = append([]byte{}, line...)
	select {
	case h.got <- struct{}{}:
	default:
	}
	return true, nil
}

func (h *holder) Process(v any) (bool, error)      { return h.Record(v.([]byte)) }
func (h *holder) Prepare(line []byte) (any, error) { return append([]byte{}, line...), nil }

func (h *holder) Close() error {
	if h.held != nil {
		h.w.Write(h.held)
		h.w.WriteByte('\n')
	}
	return nil
}

// After a signal and the drain timeout, the stage closes its processor
// in either mode: the held record is written, and it exits 1.
func TestDrainTimeoutCloses(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint(procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			got := make(chan struct{}, 1)
			l := Lines{Name: "hold", Does: Prepares, Open: func(_ *cli.Context, w *bufio.Writer) (Processor, error) {
				return &holder{w: w, got: got}, nil
			}}
			pr, pw := io.Pipe()
			defer pw.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var out, errw bytes.Buffer
			done := make(chan int)
			go func() {
				app := NewApp(l.Name, "", IO{In: pr, Out: &out, Err: &errw})
				app.Flags = commonFlags()
				app.Action = func(c *cli.Context) error { return l.run(c, pr, &out, &errw) }
				done <- ExecuteContext(ctx, app, []string{"hold", "--drain-timeout", "10ms"})
			}()
			pw.Write([]byte("{\"a\":1}\n"))
			<-got
			cancel()
			if code := <-done; code != 1 || out.String() != "{\"a\":1}\n" || !strings.Contains(errw.String(), "drain timeout") {
				t.Errorf("exit %d, out %q, err %q", code, out.String(), errw.String())
			}
		})
	}
}

// syncWriter is a strings.Builder for a writer and a reader at once.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metric reads one value from Prometheus' text format.
func metric(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name+"{"); ok {
			var v float64
			fmt.Sscanf(rest[strings.Index(rest, "} ")+2:], "%g", &v)
			return v
		}
	}
	t.Fatalf("no %s in:\n%s", name, text)
	return 0
}

// TestMetrics: /metrics scraped during a run, and the textfile written at
// exit, agree with the stats line.
func TestMetrics(t *testing.T) {
	file := filepath.Join(t.TempDir(), "evens.prom")
	pr, pw := io.Pipe()
	errw := &syncWriter{}
	var out bytes.Buffer
	done := make(chan int)
	go func() {
		done <- stageFor("serial").Run([]string{"evens", "--metrics-addr", "127.0.0.1:0", "--metrics-file", file}, pr, &out, errw)
	}()
	fmt.Fprint(pw, "1\n2\n3\n4\nx\n")
	var addr string
	for addr == "" {
		if _, rest, ok := strings.Cut(errw.String(), "serving metrics on "); ok {
			addr = strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		}
		runtime.Gosched()
	}
	// The five lines are in once the bad one is reported.
	for !strings.Contains(errw.String(), "line 5: not a number") {
		runtime.Gosched()
	}
	var text string
	for !strings.Contains(text, `skyflows_records_in_total{stage="evens"} 5`) {
		resp, err := http.Get(addr)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text = string(data)
	}
	if metric(t, text, "skyflows_records_out_total") != 2 || metric(t, text, "skyflows_records_bad_total") != 1 {
		t.Errorf("during the run:\n%s", text)
	}
	pw.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errw)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	final := string(data)
	var in, kept, dropped, bad int
	fmt.Sscanf(errw.String()[strings.Index(errw.String(), "evens: stats:"):], "evens: stats: in %d out %d dropped %d bad %d", &in, &kept, &dropped, &bad)
	for name, want := range map[string]int{"skyflows_records_in_total": in, "skyflows_records_out_total": kept,
		"skyflows_records_dropped_total": dropped, "skyflows_records_bad_total": bad, "skyflows_output_bytes_total": len("2\n4\n")} {
		if got := metric(t, final, name); got != float64(want) {
			t.Errorf("%s %g, the stats line says %d", name, got, want)
		}
	}
}

// TestCapabilitiesSaid: a processor that does what its stage did not say,
// or a Parallel stage that says what needs one processor, panics at
// start instead of being silently ignored.
func TestCapabilitiesSaid(t *testing.T) {
	for _, l := range []Lines{
		{Name: "unsaid", Open: func(_ *cli.Context, w *bufio.Writer) (Processor, error) { return preparedEvens{evens{w}}, nil }},
		{Name: "parallel", Parallel: true, Does: Ticks, Open: func(_ *cli.Context, w *bufio.Writer) (Processor, error) { return evens{w}, nil }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("stage %s ran", l.Name)
				}
			}()
			l.Run([]string{l.Name}, strings.NewReader("1\n"), io.Discard, io.Discard)
		}()
	}
}

// TestIsBadInputNil: asked of every record, IsBadInput(nil) allocates
// nothing (errors.As's target escaped: 4% of sky-batch's Parquet time).
func TestIsBadInputNil(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { IsBadInput(nil) }); n != 0 {
		t.Errorf("IsBadInput(nil): %v allocations", n)
	}
	if !IsBadInput(fmt.Errorf("line: %w", BadInput(errors.New("bad")))) || IsBadInput(errors.New("other")) {
		t.Error("IsBadInput misreads a wrapped InputError or another error")
	}
}
