// Package flowgen generates realistic, deterministic Skydive flows for
// tests and benchmarks: TCP, UDP, ICMP and ARP, live and finished, between
// cluster and outside addresses, IPv4 and IPv6.
package flowgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/skyflows/skyflows/lib/flow"
)

// Generator makes flows from a seed; the same seed gives the same flows.
type Generator struct {
	rng   *rand.Rand
	now   int64
	nodes [4]string
	caps  [4]string
	live  []*flow.Flow // flows that later updates revisit
	hosts [2][2]hosts  // [v6][inside]
}

// hosts are the addresses flows are between, each with its MAC: a
// cluster's pods and services, or the outside hosts they talk to, picked
// with a skewed popularity as in real traffic (a few busy services and
// clients, a long tail of quiet ones), not uniformly from 10/8 (a
// different address almost every flow, which no capture shows).
type hosts struct {
	addrs, macs []string
	pick        *rand.Zipf
}

// hostCounts are how many addresses each kind of host has: [v6][inside].
var hostCounts = [2][2]int{{16384, 4096}, {1024, 512}}

// updates is the share of flows that are updates of a flow seen before, as
// in the capture recorded from a real analyzer (testdata/analyzer: 14 of
// 34). maxLive bounds the flows remembered for them.
const (
	updates = 0.4
	maxLive = 10000
)

// epoch is the time of the first generated flow, in epoch milliseconds.
const epoch = 1795731701186

// New returns a generator seeded with seed.
func New(seed uint64) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), now: epoch}
	for i := range g.nodes {
		g.nodes[i] = g.uuid()
		g.caps[i] = g.uuid()
	}
	for v6, inside := range g.hosts {
		for in := range inside {
			h := &g.hosts[v6][in]
			n := hostCounts[v6][in]
			for range n {
				h.addrs = append(h.addrs, g.addr(v6 == 1, in == 1))
				h.macs = append(h.macs, g.mac())
			}
			// The hosts' order is random: popularity owes nothing to the address.
			h.pick = rand.NewZipf(g.rng, 1.1, 8, uint64(n-1))
		}
	}
	return g
}

// host returns a host's address and MAC.
func (g *Generator) host(v6, inside bool) (addr, mac string) {
	h := &g.hosts[b2i(v6)][b2i(inside)]
	i := h.pick.Uint64()
	return h.addrs[i], h.macs[i]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (g *Generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *Generator) uuid() string {
	return g.hex(8) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(12)
}

func (g *Generator) mac() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", g.rng.IntN(256), g.rng.IntN(256),
		g.rng.IntN(256), g.rng.IntN(256), g.rng.IntN(256), g.rng.IntN(256))
}

// addr makes a cluster address (10/8 or fd00::/8) or an outside one.
func (g *Generator) addr(v6, inside bool) string {
	r := g.rng
	switch {
	case v6 && inside:
		return fmt.Sprintf("fd00::%x:%x", r.IntN(65536), r.IntN(65536))
	case v6:
		return fmt.Sprintf("2001:db8:%x::%x", r.IntN(65536), r.IntN(65536))
	case inside:
		return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))
	default:
		return fmt.Sprintf("%d.%d.%d.%d", 11+r.IntN(180), r.IntN(256), r.IntN(256), 1+r.IntN(254))
	}
}

func (g *Generator) metric(start, last int64) *flow.Metric {
	r := g.rng
	ab, ba := 1+r.Int64N(500), r.Int64N(500)
	return &flow.Metric{
		ABPackets: ab, ABBytes: ab * (60 + r.Int64N(1400)),
		BAPackets: ba, BABytes: ba * (60 + r.Int64N(1400)),
		Start: start, Last: last, RTT: r.Int64N(2_000_000),
	}
}

// Flow returns the next flow: a new one or an update of a live one. Flows
// share their unchanged parts with later updates: they are for writing
// out, not for changing.
func (g *Generator) Flow() *flow.Flow {
	r := g.rng
	g.now += r.Int64N(3)
	if len(g.live) > 0 && r.Float64() < updates {
		return g.update()
	}
	f := g.newFlow()
	if f.FinishType == flow.NotFinished {
		if len(g.live) < maxLive {
			g.live = append(g.live, f)
		} else {
			g.live[r.IntN(maxLive)] = f
		}
	}
	return f
}

// update returns a live flow's next update: a new window whose counters
// add up to the new totals; a third of the updates end the flow.
func (g *Generator) update() *flow.Flow {
	r := g.rng
	i := r.IntN(len(g.live))
	prev := g.live[i]
	f := *prev
	lum := g.metric(prev.LastUpdateMetric.Last, g.now)
	total := *prev.Metric
	total.ABPackets += lum.ABPackets
	total.ABBytes += lum.ABBytes
	total.BAPackets += lum.BAPackets
	total.BABytes += lum.BABytes
	total.Last = g.now
	f.LastUpdateMetric, f.Metric, f.Last = lum, &total, g.now
	if f.TCPMetric != nil {
		tcp := *f.TCPMetric
		tcp.ABPackets, tcp.ABBytes, tcp.BAPackets, tcp.BABytes = total.ABPackets, total.ABBytes, total.BAPackets, total.BABytes
		f.TCPMetric = &tcp
	}
	g.finish(&f)
	if f.FinishType != flow.NotFinished {
		g.live[i] = g.live[len(g.live)-1]
		g.live = g.live[:len(g.live)-1]
	} else {
		g.live[i] = &f
	}
	return &f
}

// newFlow returns a flow seen for the first time.
func (g *Generator) newFlow() *flow.Flow {
	r := g.rng
	start := g.now - r.Int64N(600_000)
	last := g.now - r.Int64N(1000)
	if last < start {
		last = start
	}
	node := r.IntN(len(g.nodes))
	f := &flow.Flow{
		UUID: g.hex(16), Application: "", Start: start, Last: last,
		TrackingID: g.hex(14 + r.IntN(3)), L3TrackingID: g.hex(16),
		NodeTID: g.nodes[node], CaptureID: g.caps[node],
	}
	f.LastUpdateMetric = g.metric(g.now-5000, g.now)
	f.Metric = g.metric(start, last)
	kind := r.IntN(100)
	v6 := r.IntN(10) == 0
	ip := "IPV4"
	if v6 {
		ip = "IPV6"
	}
	// Half the flows stay in the cluster, the rest cross its edge either way.
	inA, inB := true, true
	switch r.IntN(4) {
	case 0:
		inB = false
	case 1:
		inA = false
	case 2:
		inA, inB = r.IntN(4) != 0, r.IntN(4) == 0
	}
	a, macA := g.host(v6, inA)
	b, macB := g.host(v6, inB)
	f.Link = &flow.Layer{Protocol: "ETHERNET", A: macA, B: macB}
	if kind < 4 {
		f.LayersPath, f.Application = "Ethernet/ARP", "ARP"
		return g.finish(f)
	}
	f.Network = &flow.Layer{Protocol: ip, A: a, B: b}
	prefix := "Ethernet/IPv4/"
	if v6 {
		prefix = "Ethernet/IPv6/"
	}
	switch {
	case kind < 14:
		f.LayersPath, f.Application = prefix+"ICMPv4", "ICMPv4"
		f.ICMP = &flow.ICMP{Type: "ECHO", ID: uint32(r.IntN(65536))}
	case kind < 40:
		f.LayersPath, f.Application = prefix+"UDP", "UDP"
		if r.IntN(2) == 0 {
			f.Application = "DNS"
		}
		f.Transport = &flow.Transport{Protocol: "UDP", A: 1024 + r.Int64N(64000), B: 53}
	default:
		f.LayersPath, f.Application = prefix+"TCP", "TCP"
		ports := [...]int64{80, 443, 8000, 8080, 5432, 6379, 9092}
		f.Transport = &flow.Transport{Protocol: "TCP", A: 1024 + r.Int64N(64000), B: ports[r.IntN(len(ports))]}
		if r.IntN(2) == 0 {
			return g.finish(f)
		}
		f.TCPMetric = &flow.TCPMetric{
			ABSynStart: start, BASynStart: start + 1, ABSynTTL: 64, BASynTTL: 64,
			ABSegmentOutOfOrder: r.Int64N(3), ABPackets: f.Metric.ABPackets, ABBytes: f.Metric.ABBytes,
			BAPackets: f.Metric.BAPackets, BABytes: f.Metric.BABytes,
		}
	}
	return g.finish(f)
}

// finish ends about a third of the flows: most by timeout, some by FIN or RST.
func (g *Generator) finish(f *flow.Flow) *flow.Flow {
	r := g.rng
	if r.IntN(3) != 0 {
		return f
	}
	f.FinishType = flow.Timeout
	if f.TCPMetric != nil && r.IntN(3) == 0 {
		f.FinishType = flow.TCPFin
		f.TCPMetric.ABFinStart, f.TCPMetric.BAFinStart = f.Last, f.Last
		if r.IntN(3) == 0 {
			f.FinishType = flow.TCPRst
			f.TCPMetric.ABRstStart = f.Last
		}
	}
	return f
}

// Write writes n flows as NDJSON to w.
func (g *Generator) Write(w io.Writer, n int) error {
	return writeFlows(w, n, 0, g.next)
}

// WriteFrames writes n flows as analyzer store messages of at most
// perFrame flows, one frame per line, as sky-flows --record and --replay
// read them.
func (g *Generator) WriteFrames(w io.Writer, n, perFrame int) error {
	return writeFlows(w, n, max(perFrame, 1), g.next)
}

func (g *Generator) next(int) *flow.Flow { return g.Flow() }

// writeFlows writes flows 0 to n-1, each from next, as NDJSON or, with
// perFrame, as analyzer frames.
func writeFlows(w io.Writer, n, perFrame int, next func(i int) *flow.Flow) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	stream := flow.JSON.BorrowStream(bw)
	defer flow.JSON.ReturnStream(stream)
	for i := range n {
		switch {
		case perFrame == 0:
		case i%perFrame == 0:
			stream.WriteRaw(fmt.Sprintf(`{"Namespace":"flow","Type":"store","UUID":"%08x-0000-4000-8000-000000000000","Status":200,"Obj":[`, i/perFrame))
		default:
			stream.WriteRaw(",")
		}
		stream.WriteVal(next(i))
		switch {
		case perFrame == 0:
			stream.WriteRaw("\n")
		case i%perFrame == perFrame-1 || i == n-1:
			stream.WriteRaw("]}\n")
		}
		if stream.Error != nil {
			return stream.Error
		}
		if stream.Buffered() > 64<<10 {
			if err := stream.Flush(); err != nil {
				return err
			}
		}
	}
	if err := stream.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}
