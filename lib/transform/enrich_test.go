package transform

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/analyzertest"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/secadvisor"
	"github.com/skyflows/skyflows/lib/stage"
	"github.com/skyflows/skyflows/lib/topology"
)

// The recorded topology's flows and the query of an --extend.
const (
	vethA          = "5ca4e372-f3c8-53de-a3c4-3f347924ae70"
	topologyFrames = "../../testdata/topology/graph-frames.ndjson"
	hostQuery      = "G.V().Has('TID','5ca4e372-f3c8-53de-a3c4-3f347924ae70').Values('@Host')"
)

// analyzerWith serves the recorded topology, the frames up to n (0: all).
func analyzerWith(t *testing.T, cfg analyzertest.Config, n int) *analyzertest.Server {
	t.Helper()
	srv, err := analyzertest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	data, err := os.ReadFile(topologyFrames)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		data = bytes.Join(bytes.Split(data, []byte("\n"))[:n], []byte("\n"))
	}
	if err := srv.LoadTopology(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	srv.Answer(hostQuery, `["skydive-aio-test"]`)
	return srv
}

func topologyFlows(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/topology/flows.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestEnrichGolden: the recorded flows, enriched from the recorded
// topology: the client container at A, the pod at B, the capture node's
// type, an --extend value.
func TestEnrichGolden(t *testing.T) {
	srv := analyzerWith(t, analyzertest.Config{}, 0)
	cases := []struct {
		name string
		args []string
	}{
		{"secadvisor-enrich", []string{"--to", "secadvisor", "--extend", "Host=G.V().Has('TID','{{.Network.A | printf \"%.0s\"}}5ca4e372-f3c8-53de-a3c4-3f347924ae70').Values('@Host')"}},
		{"vpclogs-enrich", []string{"--to", "vpclogs"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errs, code := run(t, topologyFlows(t), append(c.args, "--enrich", "--analyzer", srv.URL())...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, c.name, out)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update to accept):\n%s", path, got)
	}
}

// field is the text of a record's field at a dotted path, "" when absent.
func field(record, path string) string {
	v := []byte(record)
	for _, k := range strings.Split(path, ".") {
		var ok bool
		if v, _, ok = jsonscan.Get(v, k); !ok {
			return ""
		}
	}
	if s, err := jsonscan.StringValue(v); err == nil {
		return s
	}
	return string(v)
}

func TestEnrichFields(t *testing.T) {
	srv := analyzerWith(t, analyzertest.Config{}, 0)
	out, errs, code := run(t, topologyFlows(t), "--to", "secadvisor", "--enrich", "--analyzer", srv.URL())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	enriched := 0
	for _, rec := range strings.Split(strings.TrimSpace(out), "\n") {
		if field(rec, "Network.A") != "10.99.0.1" {
			continue
		}
		enriched++
		for path, want := range map[string]string{
			"Context.A.Type": "container", "Context.A.Name": "curl-client", "Context.A.Set": "",
			"Context.B.Type": "pod", "Context.B.Name": "default/web-5d4f8b7c9d-x7k2p",
			"Context.B.Set": "ReplicaSet:default/web-5d4f8b7c9d", "Network.A_Name": "",
			"Network.B_Name": "0_0_default-web-5d4f8b7c9d-x7k2p_0", "NodeType": "veth",
		} {
			if got := field(rec, path); got != want {
				t.Errorf("%s = %q, want %q in %s", path, got, want, rec)
			}
		}
	}
	if enriched == 0 {
		t.Fatal("no record of 10.99.0.1")
	}
	if !strings.Contains(errs, "topology: 24 addresses resolved, 8 unresolved, 0 before the topology came") {
		t.Errorf("summary: %s", errs)
	}
}

// TestEnrichNoAnalyzer: no analyzer at start; records go out at once,
// unenriched, and the summary says so.
func TestEnrichNoAnalyzer(t *testing.T) {
	srv := analyzerWith(t, analyzertest.Config{}, 0)
	srv.Stop()
	out, errs, code := run(t, topologyFlows(t), "--to", "secadvisor", "--enrich", "--analyzer", srv.URL(), "--topology-wait", "100ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "Context") || strings.Count(out, "\n") != 24 {
		t.Errorf("records:\n%s", out)
	}
	for _, want := range []string{"none yet after 100ms; records go out unenriched", "0 addresses resolved, 0 unresolved, 32 before the topology came"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// TestEnrichSlowAnalyzer: an analyzer that takes its time to sync and to
// answer queries holds no record back past --topology-wait and
// --topology-timeout.
func TestEnrichSlowAnalyzer(t *testing.T) {
	srv := analyzerWith(t, analyzertest.Config{SyncDelay: time.Hour, QueryDelay: time.Hour}, 0)
	start := time.Now()
	out, errs, code := run(t, topologyFlows(t), "--to", "secadvisor", "--enrich", "--analyzer", srv.URL(),
		"--topology-wait", "100ms", "--topology-timeout", "100ms", "--extend", "Host="+hostQuery)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Count(out, "\n") != 24 || strings.Contains(out, "Extend") {
		t.Errorf("records:\n%s", out)
	}
	if !strings.Contains(errs, "24 --extend values left out") {
		t.Errorf("stderr: %s", errs)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s: one timeout, then a pause, should bound it", d)
	}
}

// TestEnrichAnalyzerComesAndGoes: streaming, the analyzer is down at
// start (records unenriched), comes up (enriched), goes away (the last
// picture still enriches), and comes back with a change made meanwhile.
func TestEnrichAnalyzerComesAndGoes(t *testing.T) {
	srv := analyzerWith(t, analyzertest.Config{}, 0)
	srv.Stop()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int)
	var errw bytes.Buffer
	go func() {
		code := Run([]string{"sky-transform", "--to", "secadvisor", "--enrich", "--analyzer", srv.URL(), "--topology-wait", "50ms", "-q"}, inR, outW, &errw)
		outW.Close()
		inR.Close()
		done <- code
	}()
	records := bufio.NewScanner(outR)
	flows := bytes.Split(topologyFlows(t), []byte("\n"))
	tcp := flows[2] // 10.99.0.1 to 10.99.0.2, captured on veth-sda
	n := 0
	// send sends the TCP flow anew (a new UUID each time) and returns its record.
	send := func() string {
		t.Helper()
		n++
		f := bytes.Replace(tcp, []byte(`"fbbb6d298eaca67b"`), fmt.Appendf(nil, `"%016x"`, n), 1)
		if _, err := inW.Write(append(f, '\n')); err != nil {
			t.Fatal(err)
		}
		if !records.Scan() {
			t.Fatalf("no record: %v", records.Err())
		}
		return records.Text()
	}
	// until sends flows until one's record has want at path.
	until := func(path, want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			if got := field(send(), path); got == want {
				return
			}
		}
		t.Fatalf("no record with %s = %q", path, want)
	}
	if rec := send(); field(rec, "Context") != "" {
		t.Fatalf("enriched with no analyzer: %s", rec)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	until("Context.B.Type", "pod")
	srv.Stop()
	for range 5 {
		if rec := send(); field(rec, "Context.B.Type") != "pod" {
			t.Fatalf("analyzer away, last picture lost: %s", rec)
		}
	}
	// Meanwhile the pod goes; its container stays.
	srv.GraphEvent([]byte(`{"Namespace":"Graph","Type":"NodeDeleted","UUID":"x","Status":200,"Obj":{"ID":"fc11ae41-06be-4da6-9f45-dd2c55250338","Metadata":{}}}`))
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	until("Context.B.Type", "container")
	inW.Close()
	for records.Scan() {
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}

// BenchmarkEnrich compares secadvisor records with and without --enrich
// over generated topologies of 1 000, 10 000 and 100 000 nodes, every
// address a pod's (pods chosen at random), through the stage as
// sky-transform runs it; the graph is in memory only with --enrich, as in
// sky-transform.
func BenchmarkEnrich(b *testing.B) {
	for _, nodes := range []int{1_000, 10_000, 100_000} {
		info, err := analyzertest.GenerateTopology(io.Discard, nodes)
		if err != nil {
			b.Fatal(err)
		}
		tcp := bytes.Split(topologyFlows(b), []byte("\n"))[2]
		var input []byte
		for i := range 50000 {
			k, j := i%len(info.PodIPs), (i*7919)%len(info.PodIPs)
			f := bytes.Replace(tcp, []byte(`"fbbb6d298eaca67b"`), fmt.Appendf(nil, `"%016x"`, i), 1)
			f = bytes.Replace(f, []byte(`"A":"10.99.0.1"`), fmt.Appendf(nil, `"A":%q`, info.PodIPs[k]), 1)
			f = bytes.Replace(f, []byte(`"B":"10.99.0.2"`), fmt.Appendf(nil, `"B":%q`, info.PodIPs[j]), 1)
			f = bytes.Replace(f, []byte(vethA), []byte(info.CaptureTIDs[k]), 1)
			input = append(append(input, f...), '\n')
		}
		for _, enrich := range []bool{false, true} {
			b.Run(fmt.Sprintf("nodes=%d/enrich=%t", nodes, enrich), func(b *testing.B) {
				benchmarkEnrich(b, input, nodes, enrich)
			})
		}
	}
}

func benchmarkEnrich(b *testing.B, input []byte, nodes int, enrich bool) {
	var cache *topology.Cache // kept across runs, as in a long-running sky-transform
	if enrich {
		r, _ := analyzertest.GenerateStream(nodes)
		g := topology.NewGraph(nil)
		if err := g.Apply(r); err != nil {
			b.Fatal(err)
		}
		cache = &topology.Cache{G: g}
	}
	run := func(out io.Writer) {
		o := secadvisor.Options{Window: time.Minute, TTL: 10 * time.Minute, EndedTTL: time.Minute}
		if enrich {
			o.Enrich = &secadvisor.Enricher{Cache: cache}
		}
		code := stage.Lines{Name: "bench", Does: does, Open: func(_ *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			return newProcessor(secadvisor.New(o), w, io.Discard, "secadvisor").staged(), nil
		}}.Run([]string{"bench", "-q"}, bytes.NewReader(input), out, io.Discard)
		if code != 0 {
			b.Fatal(code)
		}
	}
	var out bytes.Buffer
	run(&out)
	if enrich != bytes.Contains(out.Bytes(), []byte("ReplicaSet:")) {
		b.Fatalf("enrich %t, output %.300s", enrich, out.Bytes())
	}
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		run(io.Discard)
	}
}
