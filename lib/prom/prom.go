// Package prom is the sky-prom command: the original exporter's Prometheus
// connector. It reads flows and serves, per connection, gauges of the
// bytes and packets each way and of the round-trip time, with a bound on
// the connections it keeps so that a scan or a flood cannot swamp
// Prometheus; it can pass its input through, to sit in a pipeline.
package prom

import (
	"bufio"
	"container/list"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/stage"
)

// defaultAddr is where sky-prom serves /metrics unless told.
const defaultAddr = "127.0.0.1:9730"

// Run is the sky-prom command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	return stage.Lines{
		Name:  "sky-prom",
		Usage: "serve Prometheus gauges of each connection's bytes, packets and RTT, from the flows read (--metrics-addr, " + defaultAddr + " by default)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "max-connections", Value: 10000, EnvVars: []string{"SKY_PROM_MAX_CONNECTIONS"},
				Usage: "keep at most `N` connections (6 series each); past it the one updated longest ago goes first, counted"},
			&cli.DurationFlag{Name: "idle", Value: time.Minute, EnvVars: []string{"SKY_PROM_IDLE"},
				Usage: "forget a connection with no update for `DURATION`"},
			&cli.BoolFlag{Name: "pass-through", Aliases: []string{"p"}, EnvVars: []string{"SKY_PROM_PASS_THROUGH"},
				Usage: "write every valid input line to stdout, byte for byte, to sit in a pipeline"},
		},
		Does: stage.Ticks | stage.Instruments,
		Open: func(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			if c.String("metrics-addr") == "" {
				if err := c.Set("metrics-addr", defaultAddr); err != nil {
					return nil, err
				}
			}
			if c.Int("max-connections") < 1 || c.Duration("idle") <= 0 {
				return nil, stage.Usagef("--max-connections and --idle must be positive")
			}
			return newExporter(w, c.Int("max-connections"), c.Duration("idle"), c.Bool("pass-through")), nil
		},
	}.Run(args, in, out, errw)
}

// The directions of a connection, as the original connector named them.
const (
	initiatorToTarget = "initiator_to_target"
	targetToInitiator = "target_to_initiator"
)

// fields are the flow fields a connection's series read.
var fields = flow.Select("UUID", "Network", "Transport", "Metric", "NodeTID", "L3TrackingID")

// connection is what is known of one connection: its labels and its
// latest cumulative counts.
type connection struct {
	key            string
	labels         [2][]string // label values, each direction
	bytes, packets [2]float64
	rtt            float64 // seconds
	updated        time.Time
	elem           *list.Element
}

// exporter is the processor and the collector of the gauges.
type exporter struct {
	w        *bufio.Writer
	pass     bool
	max      int
	idle     time.Duration
	now      func() time.Time
	mu       sync.Mutex // between Record and Tick (the stage) and Collect (a scrape)
	conns    map[string]*connection
	lru      *list.List // least recently updated first
	evicted  atomic.Int64
	expired  atomic.Int64
	bytesD   *prometheus.Desc
	packetsD *prometheus.Desc
	rttD     *prometheus.Desc
}

var labelNames = []string{"initiator_ip", "target_ip", "initiator_port", "target_port", "direction", "node_tid", "protocol"}

func newExporter(w *bufio.Writer, max int, idle time.Duration, pass bool) *exporter {
	return &exporter{
		w: w, pass: pass, max: max, idle: idle, now: time.Now, conns: map[string]*connection{}, lru: list.New(),
		bytesD: prometheus.NewDesc("skydive_network_connection_total_bytes",
			"Bytes the connection carried in this direction, since it started.", labelNames, nil),
		packetsD: prometheus.NewDesc("skydive_network_connection_total_packets",
			"Packets the connection carried in this direction, since it started.", labelNames, nil),
		rttD: prometheus.NewDesc("skydive_network_connection_rtt_seconds",
			"The connection's round-trip time, as the analyzer measured it.", labelNames, nil),
	}
}

// Record takes a flow's counts; a flow without a transport layer (ARP,
// ICMP) has no connection.
func (e *exporter) Record(line []byte) (bool, error) {
	var f flow.Flow
	if err := flow.DecodeFields(line, &f, fields); err != nil {
		return false, stage.BadInput(err)
	}
	if f.Network != nil && f.Transport != nil && f.Metric != nil {
		e.update(&f)
	}
	if !e.pass {
		return false, nil
	}
	e.w.Write(line)
	return true, e.w.WriteByte('\n')
}

func (e *exporter) update(f *flow.Flow) {
	key := f.L3TrackingID
	if key == "" {
		key = f.UUID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.conns[key]
	if c == nil {
		c = &connection{key: key}
		a, b := strconv.FormatInt(f.Transport.A, 10), strconv.FormatInt(f.Transport.B, 10)
		c.labels[0] = []string{f.Network.A, f.Network.B, a, b, initiatorToTarget, f.NodeTID, f.Transport.Protocol}
		c.labels[1] = []string{f.Network.A, f.Network.B, a, b, targetToInitiator, f.NodeTID, f.Transport.Protocol}
		c.elem = e.lru.PushBack(c)
		e.conns[key] = c
		for len(e.conns) > e.max {
			e.remove(e.lru.Front().Value.(*connection))
			e.evicted.Add(1)
		}
	} else {
		e.lru.MoveToBack(c.elem)
	}
	m := f.Metric
	c.bytes = [2]float64{float64(m.ABBytes), float64(m.BABytes)}
	c.packets = [2]float64{float64(m.ABPackets), float64(m.BAPackets)}
	c.rtt = float64(m.RTT) / 1e9
	c.updated = e.now()
}

func (e *exporter) remove(c *connection) {
	e.lru.Remove(c.elem)
	delete(e.conns, c.key)
}

// TickEvery checks for idle connections often enough for --idle.
func (e *exporter) TickEvery() time.Duration { return min(time.Second, e.idle/4) }

// Tick forgets the connections idle for --idle.
func (e *exporter) Tick() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	since := e.now().Add(-e.idle)
	for front := e.lru.Front(); front != nil; front = e.lru.Front() {
		c := front.Value.(*connection)
		if c.updated.After(since) {
			break
		}
		e.remove(c)
		e.expired.Add(1)
	}
	return nil
}

func (e *exporter) Close() error { return nil }

// Describe and Collect make the connections' gauges a collector.
func (e *exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.bytesD
	ch <- e.packetsD
	ch <- e.rttD
}

// Collect sends a copy taken under the lock: the registry evaluates
// other metrics, which take it too, while it reads what Collect sends.
func (e *exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	conns := make([]connection, 0, len(e.conns))
	for _, c := range e.conns {
		conns = append(conns, *c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		for d := range 2 {
			ch <- prometheus.MustNewConstMetric(e.bytesD, prometheus.GaugeValue, c.bytes[d], c.labels[d]...)
			ch <- prometheus.MustNewConstMetric(e.packetsD, prometheus.GaugeValue, c.packets[d], c.labels[d]...)
			ch <- prometheus.MustNewConstMetric(e.rttD, prometheus.GaugeValue, c.rtt, c.labels[d]...)
		}
	}
}

// Instrument serves the gauges, and sky-prom's own counts.
func (e *exporter) Instrument(m *metrics.Set) {
	m.Register(e)
	m.Gauge("prom_connections", "Connections whose gauges are served.", func() float64 {
		e.mu.Lock()
		defer e.mu.Unlock()
		return float64(len(e.conns))
	})
	m.Count("prom_evictions_total", "Connections dropped, updated longest ago, to stay within --max-connections.", &e.evicted)
	m.Count("prom_expired_total", "Connections forgotten after --idle without an update.", &e.expired)
}
