package prom

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skyflows/skyflows/lib/stagetest"
)

func flowLine(i int, ab, ba int64) []byte {
	return fmt.Appendf(nil, `{"UUID":"u%d","Network":{"Protocol":"IPV4","A":"10.0.%d.%d","B":"10.1.0.1","ID":0},`+
		`"Transport":{"Protocol":"TCP","A":%d,"B":443,"ID":0},"Metric":{"ABPackets":%d,"ABBytes":%d,"BAPackets":1,"BABytes":%d,"Start":1,"Last":2,"RTT":1500000},`+
		`"NodeTID":"tid-1","L3TrackingID":"l3-%d"}`, i, i/256%256, i%256, 1024+i%60000, ab/100, ab, ba, i)
}

// TestSeriesBound: a flood of distinct connections keeps the newest
// --max-connections, the oldest evicted first and counted.
func TestSeriesBound(t *testing.T) {
	e := newExporter(bufio.NewWriter(&bytes.Buffer{}), 100, time.Minute, false)
	for i := range 1000 {
		if _, err := e.Record(flowLine(i, int64(i), 7)); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.CollectAndCount(e); n != 100*6 {
		t.Errorf("%d series, want 600", n)
	}
	if e.evicted.Load() != 900 || len(e.conns) != 100 || e.conns["l3-999"] == nil || e.conns["l3-899"] != nil {
		t.Errorf("%d evicted, %d kept", e.evicted.Load(), len(e.conns))
	}
	want := `# HELP skydive_network_connection_total_bytes Bytes the connection carried in this direction, since it started.
# TYPE skydive_network_connection_total_bytes gauge
skydive_network_connection_total_bytes{direction="initiator_to_target",initiator_ip="10.0.3.231",initiator_port="2023",node_tid="tid-1",protocol="TCP",target_ip="10.1.0.1",target_port="443"} 999
skydive_network_connection_total_bytes{direction="target_to_initiator",initiator_ip="10.0.3.231",initiator_port="2023",node_tid="tid-1",protocol="TCP",target_ip="10.1.0.1",target_port="443"} 7
`
	one := newExporter(bufio.NewWriter(&bytes.Buffer{}), 100, time.Minute, false)
	one.Record(flowLine(999, 999, 7))
	if err := testutil.CollectAndCompare(one, strings.NewReader(want), "skydive_network_connection_total_bytes"); err != nil {
		t.Error(err)
	}
}

// TestIdle: a connection with no update for --idle is forgotten; an update
// keeps one.
func TestIdle(t *testing.T) {
	now := time.Unix(1000, 0)
	e := newExporter(bufio.NewWriter(&bytes.Buffer{}), 100, time.Minute, false)
	e.now = func() time.Time { return now }
	e.Record(flowLine(1, 10, 10))
	e.Record(flowLine(2, 10, 10))
	now = now.Add(50 * time.Second)
	e.Record(flowLine(2, 20, 20))
	now = now.Add(20 * time.Second)
	e.Tick()
	if len(e.conns) != 1 || e.conns["l3-2"] == nil || e.expired.Load() != 1 {
		t.Errorf("kept %d, expired %d", len(e.conns), e.expired.Load())
	}
}

// TestPassThrough: with -p every valid line goes out byte for byte; flows
// without a connection (ARP) pass too.
func TestPassThrough(t *testing.T) {
	var in bytes.Buffer
	for i := range 50 {
		in.Write(flowLine(i, 1, 1))
		in.WriteByte('\n')
	}
	in.WriteString(`{"UUID":"arp","LayersPath":"Ethernet/ARP"}` + "\n")
	var out, errw bytes.Buffer
	if code := Run([]string{"sky-prom", "-p", "--metrics-addr", "127.0.0.1:0", "-q"}, bytes.NewReader(in.Bytes()), &out, &errw); code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if out.String() != in.String() {
		t.Error("the records did not pass byte for byte")
	}
}

func BenchmarkProm(b *testing.B) {
	stagetest.Bench(b, stagetest.Flows(b, 10000), Run, "sky-prom", "--metrics-addr", "127.0.0.1:0", "-q")
}

var _ prometheus.Collector = (*exporter)(nil)
