package vpclogs

import (
	"fmt"
	"slices"

	"github.com/skyflows/skyflows/lib/flow"
)

// action pairs the updates of one connection seen at two capture points,
// one each side of a firewall, by their L3 tracking id. Traffic seen on
// both sides was accepted: what both agree on (the least of the two
// totals) is reported as accepted, once. A flow seen on one side only for
// the reject timeout, or whose other side fell silent that long while it
// went on, was rejected: what only it carried is reported as rejected.
type action struct {
	o                           Options
	timeout                     int64 // ms
	conns                       map[string]*conn
	clock                       int64
	accepted, rejected, foreign int
}

// conn is one connection: the latest update from each side.
type conn struct {
	side       [2]*flow.Flow
	seen       [2]int64    // flow time of each side's latest update
	reported   flow.Metric // totals already reported
	reportedAt int64
	// pending is when one side first carried more than both agree on;
	// 0 while they agree.
	pending int64
	closed  bool
}

// idleTTL forgets a connection neither side reported for that long, as the
// analyzer expires flows (flow.expire).
const idleTTL = 10 * 60 * 1000

func newAction(o Options) *action {
	return &action{o: o, timeout: o.RejectTimeout.Milliseconds(), conns: map[string]*conn{}}
}

// least is what two totals agree on.
func least(a, b *flow.Metric) flow.Metric {
	return flow.Metric{
		ABPackets: min(a.ABPackets, b.ABPackets), ABBytes: min(a.ABBytes, b.ABBytes),
		BAPackets: min(a.BAPackets, b.BAPackets), BABytes: min(a.BABytes, b.BABytes),
		Start: min(a.Start, b.Start), Last: min(a.Last, b.Last),
	}
}

// minus is the window between two totals.
func minus(total, before flow.Metric, start int64) flow.Metric {
	return flow.Metric{
		ABPackets: total.ABPackets - before.ABPackets, ABBytes: total.ABBytes - before.ABBytes,
		BAPackets: total.BAPackets - before.BAPackets, BABytes: total.BABytes - before.BABytes,
		Start: start, Last: max(total.Last, start),
	}
}

func (a *action) flow(t *Transformer, f *flow.Flow, emit func(any)) {
	s := -1
	switch f.NodeTID {
	case a.o.TID1:
		s = 0
	case a.o.TID2:
		s = 1
	}
	now := f.Time()
	a.advance(t, now, emit)
	if s < 0 {
		a.foreign++
		return
	}
	c := a.conns[f.L3TrackingID]
	if c == nil {
		c = &conn{}
		a.conns[f.L3TrackingID] = c
	}
	if c.closed {
		return
	}
	c.side[s], c.seen[s] = f, now
	if c.side[1-s] == nil {
		if c.pending == 0 {
			c.pending = now
		}
		return
	}
	agreed := least(c.side[0].Metric, c.side[1].Metric)
	c.pending = 0
	if carriesMore(c.side[0].Metric, agreed) || carriesMore(c.side[1].Metric, agreed) {
		c.pending = now
	}
	if !carriesMore(&agreed, c.reported) {
		return
	}
	start := c.reported.Last
	if c.reportedAt == 0 {
		start = agreed.Start
	}
	window := minus(agreed, c.reported, start)
	a.accepted++
	emit(t.record(f, &window, &agreed, Accepted))
	c.reported, c.reportedAt = agreed, now
	c.closed = c.side[0].FinishType != flow.NotFinished && c.side[1].FinishType != flow.NotFinished
}

// advance moves the clock and rejects what waited past the timeout.
func (a *action) advance(t *Transformer, now int64, emit func(any)) {
	if now <= a.clock {
		return
	}
	a.clock = now
	var ids []string
	for id, c := range a.conns {
		if !c.closed && a.expired(c) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // the same output for the same input
	for _, id := range ids {
		a.reject(t, a.conns[id], emit)
	}
	// A closed connection is kept as long as an open one, so that late
	// updates are not counted again as a new connection.
	for id, c := range a.conns {
		if a.clock-max(c.seen[0], c.seen[1]) > idleTTL {
			delete(a.conns, id)
		}
	}
}

// expired: one side carried more than both agree on (or was alone) for
// the timeout.
func (a *action) expired(c *conn) bool {
	return c.pending != 0 && a.clock-c.pending > a.timeout
}

// carriesMore reports whether totals m go beyond the totals than.
func carriesMore(m *flow.Metric, than flow.Metric) bool {
	return m.ABPackets+m.BAPackets > than.ABPackets+than.BAPackets ||
		m.ABBytes+m.BABytes > than.ABBytes+than.BABytes
}

// reject reports as rejected what the side that went on carried beyond
// what was agreed, and closes the connection.
func (a *action) reject(t *Transformer, c *conn, emit func(any)) {
	s := 0
	if c.side[0] == nil || (c.side[1] != nil && carriesMore(c.side[1].Metric, *c.side[0].Metric)) {
		s = 1
	}
	f := c.side[s]
	total := *f.Metric
	window := minus(total, c.reported, max(c.reported.Last, f.LastUpdateMetric.Start))
	if c.reportedAt == 0 {
		window.Start = total.Start
	}
	a.rejected++
	emit(t.record(f, &window, &total, Rejected))
	c.closed = true
}

// close rejects, at the end of input, what no second side confirmed.
func (a *action) close(t *Transformer, emit func(any)) string {
	var ids []string
	for id, c := range a.conns {
		if !c.closed && c.pending != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		a.reject(t, a.conns[id], emit)
	}
	return fmt.Sprintf("%d accepted and %d rejected records from two capture points, %d flows from other capture points left out",
		a.accepted, a.rejected, a.foreign)
}
