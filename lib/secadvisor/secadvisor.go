// Package secadvisor makes IBM Security Advisor flow records (version
// 1.1.0) from Skydive flows: the life of each flow (STARTED, UPDATED,
// ENDED) and the log status of each window (OK, NODATA, SKIPDATA), with
// bounded state.
package secadvisor

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/topology"
)

// Version is the record format's version.
const Version = "1.1.0"

// Statuses and log statuses.
const (
	Started  = "STARTED"
	Updated  = "UPDATED"
	Ended    = "ENDED"
	OK       = "OK"
	NoData   = "NODATA"
	SkipData = "SKIPDATA"
)

// Layer is the Network or Transport layer of a record; ports are strings.
type Layer struct {
	Protocol string `json:"Protocol,omitempty"`
	A        string `json:"A,omitempty"`
	B        string `json:"B,omitempty"`
	AName    string `json:"A_Name,omitempty" parquet:"A_Name"`
	BName    string `json:"B_Name,omitempty" parquet:"B_Name"`
}

// Record is a Security Advisor flow record.
type Record struct {
	UUID             string       `json:"UUID,omitempty" parquet:"UUID,plain"`
	LayersPath       string       `json:"LayersPath,omitempty"`
	Version          string       `json:"Version,omitempty"`
	Status           string       `json:"Status,omitempty"`
	FinishType       string       `json:"FinishType,omitempty"`
	Network          *Layer       `json:"Network,omitempty"`
	Transport        *Layer       `json:"Transport,omitempty"`
	Context          *Peers       `json:"Context,omitempty"`
	LastUpdateMetric *flow.Metric `json:"LastUpdateMetric,omitempty"`
	Metric           *flow.Metric `json:"Metric,omitempty"`
	Start            int64        `json:"Start"`
	Last             int64        `json:"Last"`
	UpdateCount      int64        `json:"UpdateCount"`
	NodeType         string       `json:"NodeType,omitempty"`
	LogStatus        string       `json:"LogStatus,omitempty"`
	// LinkID names the silent link of a NODATA record.
	LinkID *int64            `json:"LinkID,omitempty"`
	Extend map[string]string `json:"Extend,omitempty"`
	Tag    string            `json:"Tag,omitempty"`
	peers  Peers             // what Context points to, when enriched: one allocation less
}

// Peers are who is behind each end of a flow, from the topology.
type Peers struct {
	A *topology.Context `json:"A,omitempty"`
	B *topology.Context `json:"B,omitempty"`
}

// AppendJSON appends the record as JSON, as encoding/json would write it.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	key := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	str := func(name, v string) {
		if v != "" {
			key(name)
			b = jsonscan.AppendString(b, v)
		}
	}
	num := func(name string, v int64) {
		key(name)
		b = strconv.AppendInt(b, v, 10)
	}
	object := func(name string, fields func()) {
		key(name)
		b = append(b, '{')
		first = true
		fields()
		b = append(b, '}')
		first = false
	}
	layer := func(name string, l *Layer) {
		if l != nil {
			object(name, func() {
				str("Protocol", l.Protocol)
				str("A", l.A)
				str("B", l.B)
				str("A_Name", l.AName)
				str("B_Name", l.BName)
			})
		}
	}
	metric := func(name string, m *flow.Metric) {
		if m != nil {
			object(name, func() {
				num("ABPackets", m.ABPackets)
				num("ABBytes", m.ABBytes)
				num("BAPackets", m.BAPackets)
				num("BABytes", m.BABytes)
				num("Start", m.Start)
				num("Last", m.Last)
				if m.RTT != 0 {
					num("RTT", m.RTT)
				}
			})
		}
	}
	peer := func(name string, c *topology.Context) {
		if c != nil {
			key(name)
			b = c.AppendJSON(b)
		}
	}
	str("UUID", r.UUID)
	str("LayersPath", r.LayersPath)
	str("Version", r.Version)
	str("Status", r.Status)
	str("FinishType", r.FinishType)
	layer("Network", r.Network)
	layer("Transport", r.Transport)
	if r.Context != nil {
		object("Context", func() {
			peer("A", r.Context.A)
			peer("B", r.Context.B)
		})
	}
	metric("LastUpdateMetric", r.LastUpdateMetric)
	metric("Metric", r.Metric)
	num("Start", r.Start)
	num("Last", r.Last)
	num("UpdateCount", r.UpdateCount)
	str("NodeType", r.NodeType)
	str("LogStatus", r.LogStatus)
	if r.LinkID != nil {
		num("LinkID", *r.LinkID)
	}
	if len(r.Extend) > 0 {
		object("Extend", func() {
			for _, name := range slices.Sorted(maps.Keys(r.Extend)) {
				key(name)
				b = jsonscan.AppendString(b, r.Extend[name])
			}
		})
	}
	str("Tag", r.Tag)
	return append(b, '}')
}

// Flags are the command-line flags of the format.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "exclude-started", EnvVars: []string{"SKY_EXCLUDE_STARTED"},
			Usage: "secadvisor: leave out the STARTED record of each flow"},
		&cli.DurationFlag{Name: "window", Value: time.Minute, EnvVars: []string{"SKY_UPDATE_WINDOW"},
			Usage: "secadvisor: the log status `WINDOW` (NODATA for a link silent during one)"},
		&cli.DurationFlag{Name: "ttl", Value: 10 * time.Minute, EnvVars: []string{"SKY_FLOW_TTL"},
			Usage: "secadvisor: forget a flow or link silent for `DURATION` (the analyzer's flow.expire)"},
		&cli.DurationFlag{Name: "ended-ttl", Value: time.Minute, EnvVars: []string{"SKY_ENDED_TTL"},
			Usage: "secadvisor: forget an ended flow after `DURATION`"},
		&cli.GenericFlag{Name: "extend", Value: &Extensions{}, EnvVars: []string{"SKY_EXTEND"},
			Usage: "secadvisor with --enrich: add Extend.NAME, the first value of the Gremlin query `NAME=TEMPLATE` (a Go template over the record, e.g. " +
				"Host=G.V().Has('RoutingTables.Src','{{.Network.A}}').Values('@Host')); repeatable"},
	}
}

// FromFlags returns a transformer set up by the flags; with topo, it
// enriches records.
func FromFlags(c *cli.Context, topo *topology.Live) (*Transformer, error) {
	o := Options{
		ExcludeStarted: c.Bool("exclude-started"), Window: c.Duration("window"),
		TTL: c.Duration("ttl"), EndedTTL: c.Duration("ended-ttl"),
	}
	if o.Window < time.Millisecond || o.TTL < o.Window || o.EndedTTL <= 0 {
		return nil, fmt.Errorf("--window must be at least 1ms, --ttl at least --window, --ended-ttl positive")
	}
	if topo != nil {
		o.Enrich = &Enricher{Cache: &topology.Cache{G: topo.Graph}, Querier: topo.Querier}
		if err := o.Enrich.ParseExtend(*c.Generic("extend").(*Extensions)); err != nil {
			return nil, err
		}
	} else if len(*c.Generic("extend").(*Extensions)) > 0 {
		return nil, fmt.Errorf("--extend goes with --enrich")
	}
	return New(o), nil
}

// Options tune the transformer.
type Options struct {
	ExcludeStarted bool
	Window         time.Duration
	TTL            time.Duration
	EndedTTL       time.Duration
	Enrich         *Enricher // nil: no topology
}

// seen is what is kept of a flow between its updates.
type seen struct {
	count    int64
	counters [4]int64 // ABPackets, ABBytes, BAPackets, BABytes
	last     int64    // flow time, ms
	ended    bool
}

// Transformer keeps the state of flows and links on the flows' clock.
type Transformer struct {
	o                          Options
	window                     int64           // ms
	flows                      map[uint64]seen // by a hash of the UUID
	seed                       maphash.Seed
	peak                       int                // largest len(flows) since the map was made
	links                      map[int64]linkSeen // by link id
	clock                      int64              // latest flow time, ms
	cur                        int64              // current window
	nodata, skipdata, excluded int
}

// linkSeen is the last window a link was seen in, and the tag of its
// last flow, which its NODATA records take (so that they land in the
// objects of its flows).
type linkSeen struct {
	window int64
	tag    string
}

// New returns a transformer.
func New(o Options) *Transformer {
	return &Transformer{o: o, window: o.Window.Milliseconds(), flows: map[uint64]seen{}, seed: maphash.MakeSeed(),
		links: map[int64]linkSeen{}, cur: -1}
}

func finishType(f flow.FinishType) string {
	switch f {
	case flow.TCPFin:
		return "SYN_FIN"
	case flow.TCPRst:
		return "SYN_RST"
	case flow.Timeout:
		return "Timeout"
	}
	return ""
}

func counters(m *flow.Metric) [4]int64 {
	if m == nil {
		return [4]int64{}
	}
	return [4]int64{m.ABPackets, m.ABBytes, m.BAPackets, m.BABytes}
}

// continues reports whether this update's window counts, added to what
// was seen last time, give this update's totals.
func continues(prev [4]int64, lum, total *flow.Metric) bool {
	w, t := counters(lum), counters(total)
	for i := range prev {
		if prev[i]+w[i] != t[i] {
			return false
		}
	}
	return true
}

// flowFields are the fields of a flow that Flow reads.
var flowFields = flow.Select("UUID", "LayersPath", "Link", "Network", "Transport", "LastUpdateMetric", "Metric",
	"Start", "Last", "FinishType", "Tag")

// enrichFields adds what enrichment reads.
var enrichFields = flowFields | flow.Select("NodeTID")

// Fields tells sky-transform which fields of a flow to decode.
func (t *Transformer) Fields() flow.Fields {
	if t.o.Enrich != nil {
		return enrichFields
	}
	return flowFields
}

// Prefetch reads ahead, with enrichment, the topology's answers for flows
// about to come.
func (t *Transformer) Prefetch(flows []*flow.Flow) {
	if t.o.Enrich != nil {
		t.o.Enrich.prefetch(flows)
	}
}

// Flow emits the records of one flow: a SKIPDATA record first when updates
// were lost, then its own (unless it is STARTED and those are excluded).
func (t *Transformer) Flow(f *flow.Flow, emit func(any)) error {
	if f.UUID == "" {
		return fmt.Errorf("UUID: missing")
	}
	if f.Metric == nil {
		return fmt.Errorf("Metric: missing")
	}
	now := f.Time()
	t.advance(now, emit)
	var link int64
	if f.Link != nil {
		link = f.Link.ID
	}
	if seen := t.links[link]; now/t.window >= seen.window {
		t.links[link] = linkSeen{window: now / t.window, tag: f.Tag}
	}

	id := maphash.String(t.seed, f.UUID)
	prev, known := t.flows[id]
	rec := &Record{
		UUID: f.UUID, LayersPath: f.LayersPath, Version: Version,
		FinishType: finishType(f.FinishType), LastUpdateMetric: f.LastUpdateMetric, Metric: f.Metric,
		Start: f.Start, Last: f.Last, UpdateCount: prev.count, LogStatus: OK, Tag: f.Tag,
	}
	if f.Network != nil {
		rec.Network = &Layer{Protocol: f.Network.Protocol, A: f.Network.A, B: f.Network.B}
	}
	if f.Transport != nil {
		rec.Transport = &Layer{Protocol: f.Transport.Protocol,
			A: strconv.FormatInt(f.Transport.A, 10), B: strconv.FormatInt(f.Transport.B, 10)}
	}
	if t.o.Enrich != nil {
		t.o.Enrich.enrich(rec, f)
	}
	if known && !continues(prev.counters, f.LastUpdateMetric, f.Metric) {
		t.skipdata++
		emit(&Record{UUID: f.UUID, Version: Version, Network: rec.Network, Start: now, Last: now,
			LogStatus: SkipData, Tag: f.Tag})
	}
	switch {
	case f.FinishType != flow.NotFinished:
		rec.Status = Ended
	case !known:
		rec.Status = Started
	default:
		rec.Status = Updated
	}
	t.flows[id] = seen{count: prev.count + 1, counters: counters(f.Metric), last: max(now, prev.last), ended: f.FinishType != flow.NotFinished}
	t.peak = max(t.peak, len(t.flows))
	if rec.Status == Started && t.o.ExcludeStarted {
		t.excluded++
		return nil
	}
	emit(rec)
	return nil
}

// advance moves the clock to now: each window that closes gets a NODATA
// record for every link seen before but silent in it, and expired state
// is evicted.
func (t *Transformer) advance(now int64, emit func(any)) {
	if now <= t.clock {
		return
	}
	t.clock = now
	w := now / t.window
	if t.cur < 0 {
		t.cur = w
		return
	}
	if w <= t.cur {
		return
	}
	ttlWindows := t.o.TTL.Milliseconds() / t.window
	ids := make([]int64, 0, len(t.links))
	for id := range t.links {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for k := t.cur; k < w; k++ {
		for _, id := range ids {
			seen := t.links[id]
			if seen.window < k && k-seen.window <= ttlWindows {
				t.nodata++
				link := id
				emit(&Record{Version: Version, Start: k * t.window, Last: (k+1)*t.window - 1,
					LogStatus: NoData, LinkID: &link, Tag: seen.tag})
			}
		}
	}
	t.cur = w
	t.evict()
}

// evict forgets flows and links past their time to live, and remakes the
// flow map once it holds a quarter of its peak, so that memory comes back.
func (t *Transformer) evict() {
	ttl, endedTTL := t.o.TTL.Milliseconds(), t.o.EndedTTL.Milliseconds()
	for id, s := range t.flows {
		if t.clock-s.last > ttl || (s.ended && t.clock-s.last > endedTTL) {
			delete(t.flows, id)
		}
	}
	for id, seen := range t.links {
		if t.clock-(seen.window+1)*t.window > ttl {
			delete(t.links, id)
		}
	}
	if t.peak > 1024 && len(t.flows) < t.peak/4 {
		fresh := make(map[uint64]seen, len(t.flows))
		for id, s := range t.flows {
			fresh[id] = s
		}
		t.flows, t.peak = fresh, len(fresh)
	}
}

// Close says what the log status and enrichment added.
func (t *Transformer) Close(func(any)) string {
	s := fmt.Sprintf("%d NODATA and %d SKIPDATA records added, %d STARTED left out, %d flows remembered",
		t.nodata, t.skipdata, t.excluded, len(t.flows))
	if t.o.Enrich != nil {
		s += "; " + t.o.Enrich.summary()
	}
	return s
}
