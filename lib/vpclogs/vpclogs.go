// Package vpclogs makes IBM Cloud VPC flow logs records from Skydive
// flows: per-window counts from LastUpdateMetric, cumulative ones from
// Metric, and, from two capture points on either side of a firewall, the
// action (accepted or rejected).
package vpclogs

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/topology"
)

// Record is one IBM VPC flow log.
type Record struct {
	StartTime                      string `json:"start_time" parquet:"start_time,delta"`
	EndTime                        string `json:"end_time" parquet:"end_time,delta"`
	ConnectionStartTime            string `json:"connection_start_time" parquet:"connection_start_time,delta"`
	Direction                      string `json:"direction,omitempty" parquet:"direction"`
	Action                         string `json:"action" parquet:"action"`
	InitiatorIP                    string `json:"initiator_ip" parquet:"initiator_ip"`
	TargetIP                       string `json:"target_ip" parquet:"target_ip"`
	InitiatorPort                  int64  `json:"initiator_port" parquet:"initiator_port"`
	TargetPort                     int64  `json:"target_port" parquet:"target_port"`
	TransportProtocol              int    `json:"transport_protocol" parquet:"transport_protocol"`
	EtherType                      string `json:"ether_type" parquet:"ether_type"`
	WasInitiated                   bool   `json:"was_initiated" parquet:"was_initiated"`
	WasTerminated                  bool   `json:"was_terminated" parquet:"was_terminated"`
	BytesFromInitiator             int64  `json:"bytes_from_initiator" parquet:"bytes_from_initiator"`
	PacketsFromInitiator           int64  `json:"packets_from_initiator" parquet:"packets_from_initiator"`
	BytesFromTarget                int64  `json:"bytes_from_target" parquet:"bytes_from_target"`
	PacketsFromTarget              int64  `json:"packets_from_target" parquet:"packets_from_target"`
	CumulativeBytesFromInitiator   int64  `json:"cumulative_bytes_from_initiator" parquet:"cumulative_bytes_from_initiator"`
	CumulativePacketsFromInitiator int64  `json:"cumulative_packets_from_initiator" parquet:"cumulative_packets_from_initiator"`
	CumulativeBytesFromTarget      int64  `json:"cumulative_bytes_from_target" parquet:"cumulative_bytes_from_target"`
	CumulativePacketsFromTarget    int64  `json:"cumulative_packets_from_target" parquet:"cumulative_packets_from_target"`
	Tag                            string `json:"Tag,omitempty" parquet:"Tag"`
}

// AppendJSON appends the record as JSON, as encoding/json would write it.
func (r *Record) AppendJSON(b []byte) []byte {
	str := func(key, v string) {
		b = append(b, key...)
		b = jsonscan.AppendString(b, v)
	}
	num := func(key string, v int64) {
		b = append(b, key...)
		b = strconv.AppendInt(b, v, 10)
	}
	flag := func(key string, v bool) {
		b = append(b, key...)
		b = strconv.AppendBool(b, v)
	}
	str(`{"start_time":`, r.StartTime)
	str(`,"end_time":`, r.EndTime)
	str(`,"connection_start_time":`, r.ConnectionStartTime)
	if r.Direction != "" {
		str(`,"direction":`, r.Direction)
	}
	str(`,"action":`, r.Action)
	str(`,"initiator_ip":`, r.InitiatorIP)
	str(`,"target_ip":`, r.TargetIP)
	num(`,"initiator_port":`, r.InitiatorPort)
	num(`,"target_port":`, r.TargetPort)
	num(`,"transport_protocol":`, int64(r.TransportProtocol))
	str(`,"ether_type":`, r.EtherType)
	flag(`,"was_initiated":`, r.WasInitiated)
	flag(`,"was_terminated":`, r.WasTerminated)
	num(`,"bytes_from_initiator":`, r.BytesFromInitiator)
	num(`,"packets_from_initiator":`, r.PacketsFromInitiator)
	num(`,"bytes_from_target":`, r.BytesFromTarget)
	num(`,"packets_from_target":`, r.PacketsFromTarget)
	num(`,"cumulative_bytes_from_initiator":`, r.CumulativeBytesFromInitiator)
	num(`,"cumulative_packets_from_initiator":`, r.CumulativePacketsFromInitiator)
	num(`,"cumulative_bytes_from_target":`, r.CumulativeBytesFromTarget)
	num(`,"cumulative_packets_from_target":`, r.CumulativePacketsFromTarget)
	if r.Tag != "" {
		str(`,"Tag":`, r.Tag)
	}
	return append(b, '}')
}

// Actions and directions.
const (
	Accepted = "accepted"
	Rejected = "rejected"
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Options set up the transformer.
type Options struct {
	Local flow.Local // the capture point's addresses, for direction
	// Topology, without Local, gives the capture node's addresses.
	Topology      *topology.Graph
	TID1, TID2    string // two capture points, for the action
	RejectTimeout time.Duration
}

// Flags are the command-line flags of the format.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tid1", EnvVars: []string{"SKY_TID1"}, Usage: "vpclogs: the capture point `TID` on one side of the firewall"},
		&cli.StringFlag{Name: "tid2", EnvVars: []string{"SKY_TID2"}, Usage: "vpclogs: the capture point `TID` on the other side"},
		&cli.DurationFlag{Name: "reject-timeout", Value: 5 * time.Second, EnvVars: []string{"SKY_REJECT_TIMEOUT"},
			Usage: "vpclogs: a flow seen on one side only for `DURATION` is rejected"},
	}
}

// FromFlags returns a transformer set up by the flags; topo, if not nil,
// gives each record's direction when --local-ip does not.
func FromFlags(c *cli.Context, topo *topology.Live) (*Transformer, error) {
	o := Options{TID1: c.String("tid1"), TID2: c.String("tid2"), RejectTimeout: c.Duration("reject-timeout")}
	if topo != nil {
		o.Topology = topo.Graph
	}
	var err error
	if o.Local, err = flow.ParseLocal(c.StringSlice("local-ip")); err != nil {
		return nil, err
	}
	if (o.TID1 == "") != (o.TID2 == "") || (o.TID1 != "" && o.TID1 == o.TID2) {
		return nil, fmt.Errorf("--tid1 and --tid2 go together and differ")
	}
	if o.RejectTimeout <= 0 {
		return nil, fmt.Errorf("--reject-timeout must be positive")
	}
	return New(o), nil
}

// Transformer makes records; with two capture points it pairs them.
type Transformer struct {
	o      Options
	action *action // nil without --tid1/--tid2
}

// New returns a transformer.
func New(o Options) *Transformer {
	t := &Transformer{o: o}
	if o.TID1 != "" {
		t.action = newAction(o)
	}
	return t
}

func rfc3339(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func etherType(p string) string {
	if p == "IPV6" {
		return "IPv6"
	}
	return "IPv4"
}

// record makes the record of a flow over the window lum with the totals
// total: the counts of an update, or of what two capture points agree on.
func (t *Transformer) record(f *flow.Flow, lum, total *flow.Metric, action string) *Record {
	r := &Record{
		StartTime: rfc3339(lum.Start), EndTime: rfc3339(lum.Last), ConnectionStartTime: rfc3339(total.Start),
		Action: action, InitiatorIP: f.Network.A, TargetIP: f.Network.B,
		InitiatorPort: f.Transport.A, TargetPort: f.Transport.B, TransportProtocol: f.Transport.IANA(),
		EtherType:          etherType(f.Network.Protocol),
		BytesFromInitiator: lum.ABBytes, PacketsFromInitiator: lum.ABPackets,
		BytesFromTarget: lum.BABytes, PacketsFromTarget: lum.BAPackets,
		CumulativeBytesFromInitiator: total.ABBytes, CumulativePacketsFromInitiator: total.ABPackets,
		CumulativeBytesFromTarget: total.BABytes, CumulativePacketsFromTarget: total.BAPackets,
		Tag: f.Tag,
	}
	if tcp := f.TCPMetric; tcp != nil {
		r.WasInitiated = lum.Covers(tcp.ABSynStart) || lum.Covers(tcp.BASynStart)
		r.WasTerminated = lum.Covers(tcp.ABFinStart) || lum.Covers(tcp.BAFinStart) ||
			lum.Covers(tcp.ABRstStart) || lum.Covers(tcp.BARstStart)
	} else {
		// Without TCP state: the connection starts in its first window.
		r.WasInitiated = total.Start >= lum.Start
	}
	r.WasTerminated = r.WasTerminated || f.FinishType != flow.NotFinished
	r.Direction = t.direction(t.local(f.NodeTID), f.Network.A, f.Network.B, f.Tag)
	return r
}

// local are the capture point's addresses: --local-ip, else those of the
// capture node in the topology.
func (t *Transformer) local(tid string) flow.Local {
	if len(t.o.Local) > 0 || t.o.Topology == nil {
		return t.o.Local
	}
	addrs, _ := t.o.Topology.Addresses(tid)
	return addrs
}

// direction is outbound when the capture point initiated the connection,
// inbound when it was the target; without its addresses, from the flow's
// tag, relative to the cluster; else none.
func (t *Transformer) direction(local flow.Local, initiator, target, tag string) string {
	switch {
	case local.Has(initiator):
		return Outbound
	case local.Has(target):
		return Inbound
	case len(local) > 0:
		return ""
	case tag == "egress":
		return Outbound
	case tag == "ingress":
		return Inbound
	}
	return ""
}

// flowFields are the fields of a flow that Flow reads.
var flowFields = flow.Select("FinishType", "L3TrackingID", "LastUpdateMetric", "Metric", "Network", "NodeTID",
	"TCPMetric", "Tag", "Transport", "Last")

// Fields tells sky-transform which fields of a flow to decode.
func (t *Transformer) Fields() flow.Fields { return flowFields }

// Flow emits the record of a flow; flows without a transport layer (ARP,
// ICMP) are not in IBM's flow logs and are left out.
func (t *Transformer) Flow(f *flow.Flow, emit func(any)) error {
	if f.Transport == nil {
		return nil
	}
	switch {
	case f.Network == nil:
		return fmt.Errorf("Network: missing")
	case f.LastUpdateMetric == nil:
		return fmt.Errorf("LastUpdateMetric: missing")
	case f.Metric == nil:
		return fmt.Errorf("Metric: missing")
	}
	if t.action != nil {
		t.action.flow(t, f, emit)
		return nil
	}
	// As IBM: a connection without traffic in a window has no flow log.
	if m := f.LastUpdateMetric; m.ABPackets+m.BAPackets+m.ABBytes+m.BABytes == 0 {
		return nil
	}
	emit(t.record(f, f.LastUpdateMetric, f.Metric, Accepted))
	return nil
}

// Close emits the rejections still pending.
func (t *Transformer) Close(emit func(any)) string {
	if t.action == nil {
		return ""
	}
	return t.action.close(t, emit)
}
