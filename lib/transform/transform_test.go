package transform

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/secadvisor"
	"github.com/skyflows/skyflows/lib/stagetest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func run(t testing.TB, input []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := Run(append([]string{"sky-transform"}, args...), bytes.NewReader(input), &out, &errw)
	return out.String(), errw.String(), code
}

// TestGolden runs each format over realistic sequences: the same flows
// over several updates, then FIN, RST and timeout; ARP, ICMP and IPv6; a
// lost update and a silent link; two capture points around a firewall.
func TestGolden(t *testing.T) {
	cases := []struct {
		name, input string
		args        []string
	}{
		{"secadvisor", "sequence", []string{"--to", "secadvisor"}},
		{"secadvisor-exclude-started", "sequence", []string{"--to", "secadvisor", "--exclude-started"}},
		{"awsflowlogs-v2", "sequence", []string{"--to", "awsflowlogs", "--account-id", "123456789012"}},
		{"awsflowlogs-v3", "sequence", []string{"--to", "awsflowlogs", "--aws-version", "3", "--vpc-id", "vpc-1", "--subnet-id", "subnet-1"}},
		{"awsflowlogs-v4", "sequence", []string{"--to", "awsflowlogs", "--aws-version", "4", "--region", "eu-west-1", "--az-id", "euw1-az1"}},
		{"awsflowlogs-v5", "sequence", []string{"--to", "awsflowlogs", "--aws-version", "5", "--interface-id", "eni-1"}},
		{"awsflowlogs-v5-local", "sequence", []string{"--to", "awsflowlogs", "--aws-version", "5", "--local-ip", "10.0.0.1"}},
		{"vpclogs", "sequence", []string{"--to", "vpclogs", "--local-ip", "10.0.0.1", "--local-ip", "fd00::/64"}},
		{"vpclogs-action", "action", []string{"--to", "vpclogs", "--tid1", "tid-a", "--tid2", "tid-b"}},
		{"none", "sequence", []string{"--to", "none"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join("testdata", c.input+".ndjson"))
			if err != nil {
				t.Fatal(err)
			}
			out, errs, code := run(t, input, c.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			errs = errs[:strings.LastIndex(errs, "sky-transform: stats: ")] // the summary, not the stats
			got := out + "-- stderr --\n" + errs
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				os.WriteFile(path, []byte(got), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("differs from %s:\n%s", path, got)
			}
		})
	}
}

func TestPassThroughIsExact(t *testing.T) {
	input, _ := os.ReadFile("testdata/sequence.ndjson")
	if out, _, _ := run(t, input, "-q"); out != string(input) {
		t.Error("--to none changed the records")
	}
}

func TestBadFlows(t *testing.T) {
	input := strings.Join([]string{
		`{"UUID":"x","Network":{"A":42}}`,
		`{"UUID":"y","Transport":{"Protocol":"TCP","A":1,"B":2},"Network":{"Protocol":"IPV4","A":"1.1.1.1","B":"2.2.2.2"}}`,
		`{"UUID":"z"`,
		`{"LayersPath":"Ethernet/ARP","UUID":"arp","Metric":{},"LastUpdateMetric":{}}`,
	}, "\n") + "\n"
	for format, want := range map[string][]string{
		"secadvisor":  {"line 1: Network.A: want a string, got number", "line 2: Metric: missing", "line 3: decode: unexpected end of JSON input", "stats: in 4 out 1 dropped 0 bad 3"},
		"awsflowlogs": {"line 1: Network.A: want a string, got number", "line 2: LastUpdateMetric: missing", "stats: in 4 out 0 dropped 1 bad 3"},
		"vpclogs":     {"line 2: LastUpdateMetric: missing", "stats: in 4 out 0 dropped 1 bad 3"},
	} {
		_, errs, code := run(t, []byte(input), "--to", format)
		if code != 0 {
			t.Errorf("%s: exit %d", format, code)
		}
		for _, w := range want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", format, w, errs)
			}
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--to", "xml"}, {"--to", "awsflowlogs", "--aws-version", "6"}, {"--to", "vpclogs", "--tid1", "a"},
		{"--to", "vpclogs", "--local-ip", "nope"}, {"--to", "secadvisor", "--window", "0s"},
	} {
		if _, errs, code := run(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
}

// TestStateBounded: a million distinct flows through secadvisor, then
// time moves past their time to live: the state is gone and the memory
// it held comes back.
func TestStateBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a million flows")
	}
	tr := secadvisor.New(secadvisor.Options{Window: time.Minute, TTL: 10 * time.Minute, EndedTTL: time.Minute})
	emit := func(any) {}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	base := int64(1800000000000)
	f := &flow.Flow{LastUpdateMetric: &flow.Metric{}, Metric: &flow.Metric{}}
	for i := range 1_000_000 {
		f.UUID = fmt.Sprintf("%016x", i)
		f.LastUpdateMetric.Last = base + int64(i)/100 // 10 s of flows
		tr.Flow(f, emit)
	}
	full := heap()
	f.UUID, f.LastUpdateMetric.Last = "late", base+time.Hour.Milliseconds()
	tr.Flow(f, emit)
	after := heap()
	t.Logf("heap: %d MiB before, %d MiB with a million flows, %d MiB after expiry", before>>20, full>>20, after>>20)
	if summary := tr.Close(emit); !strings.HasSuffix(summary, "1 flows remembered") {
		t.Errorf("state not evicted: %s", summary)
	}
	if full < before+50<<20 || after > before+8<<20 {
		t.Errorf("memory did not come back: %d MiB before, %d MiB full, %d MiB after", before>>20, full>>20, after>>20)
	}
}

// FuzzTransform checks that any line, through every format, gives valid
// JSON records or a reported error: never a crash.
func FuzzTransform(f *testing.F) {
	seq, _ := os.ReadFile("testdata/sequence.ndjson")
	for _, l := range bytes.Split(bytes.TrimSpace(seq), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"UUID":"x","Network":{"Protocol":"IPV4","A":"1.1.1.1"},"Transport":{"Protocol":"TCP"},"LastUpdateMetric":{},"Metric":{}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.ContainsAny(line, "\r\n") {
			return
		}
		for _, format := range []string{"secadvisor", "awsflowlogs", "vpclogs"} {
			out, errs, code := run(t, append(line, '\n'), "-q", "--to", format, "--aws-version", "5", "--tid1", "a", "--tid2", "b")
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", format, code, errs)
			}
			for _, rec := range strings.Split(strings.TrimSpace(out), "\n") {
				if rec != "" && jsonscan.Valid([]byte(rec)) != nil {
					t.Fatalf("%s: invalid record %q", format, rec)
				}
			}
		}
	})
}

func BenchmarkTransform(b *testing.B) {
	in := stagetest.Flows(b, 10000)
	for _, format := range []string{"secadvisor", "awsflowlogs", "vpclogs"} {
		b.Run(format, func(b *testing.B) { stagetest.Bench(b, in, Run, "sky-transform", "-q", "--to", format) })
	}
}
