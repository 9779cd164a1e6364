// Package awsflowlogs makes AWS VPC Flow Logs records, versions 2 to 5,
// from Skydive flows: AWS's field names in AWS's order, "-" for what
// Skydive cannot know, as AWS writes unavailable fields.
package awsflowlogs

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
)

// fields are the field names of version 5; earlier versions have a prefix.
var fields = []string{
	"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
	"protocol", "packets", "bytes", "start", "end", "action", "log-status",
	// v3
	"vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",
	// v4
	"region", "az-id", "sublocation-type", "sublocation-id",
	// v5
	"pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path",
}

var fieldCount = map[int]int{2: 14, 3: 21, 4: 25, 5: 29}

// numeric marks the fields written as JSON numbers (when known).
var numeric = map[string]bool{
	"version": true, "srcport": true, "dstport": true, "protocol": true, "packets": true,
	"bytes": true, "start": true, "end": true, "tcp-flags": true,
}

// isNumeric is numeric by field position.
var isNumeric = func() []bool {
	n := make([]bool, len(fields))
	for i, f := range fields {
		n[i] = numeric[f]
	}
	return n
}()

// Fields returns the field names of a version, in order, or nil.
func Fields(version int) []string {
	n, ok := fieldCount[version]
	if !ok {
		return nil
	}
	return fields[:n]
}

// TCP flags as AWS counts them.
const (
	FlagFIN    = 1
	FlagSYN    = 2
	FlagRST    = 4
	FlagSYNACK = 18
)

// Record is one flow log record: its values as text in field order.
type Record struct {
	Values []string
	Tag    string
}

// MarshalJSON writes the record as AppendJSON does.
func (r *Record) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendJSON appends the record as an object with AWS's field names, in
// order, numbers as numbers, and the tag last.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, v := range r.Values {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, fields[i])
		b = append(b, ':')
		if isNumeric[i] && v != "-" {
			b = append(b, v...)
		} else {
			b = jsonscan.AppendString(b, v)
		}
	}
	if r.Tag != "" {
		b = append(b, `,"Tag":`...)
		b = jsonscan.AppendString(b, r.Tag)
	}
	return append(b, '}')
}

// Options are the values Skydive cannot know, and the version.
type Options struct {
	Version                                 int
	AccountID, InterfaceID, VpcID, SubnetID string
	InstanceID, Region, AzID, Action        string
	// Local are the capture point's addresses, for flow-direction.
	Local flow.Local
}

// Flags are the command-line flags of the format.
func Flags() []cli.Flag {
	str := func(name, env, usage string) cli.Flag {
		return &cli.StringFlag{Name: name, Value: "-", EnvVars: []string{env}, Usage: "awsflowlogs: " + usage}
	}
	return []cli.Flag{
		&cli.IntFlag{Name: "aws-version", Value: 2, EnvVars: []string{"SKY_AWS_VERSION"},
			Usage: "awsflowlogs: record `VERSION`, 2 to 5 (--version prints the program's); v5's flow-direction is ingress or egress " +
				"by --local-ip, else by the flow's Tag (relative to the cluster), else -"},
		str("account-id", "SKY_AWS_ACCOUNT_ID", "the account-id field"),
		&cli.StringFlag{Name: "interface-id", EnvVars: []string{"SKY_AWS_INTERFACE_ID"}, Usage: "awsflowlogs: the interface-id field (default: the flow's capture node TID)"},
		str("vpc-id", "SKY_AWS_VPC_ID", "the vpc-id field"),
		str("subnet-id", "SKY_AWS_SUBNET_ID", "the subnet-id field"),
		str("instance-id", "SKY_AWS_INSTANCE_ID", "the instance-id field"),
		str("region", "SKY_AWS_REGION", "the region field"),
		str("az-id", "SKY_AWS_AZ_ID", "the az-id field"),
		&cli.StringFlag{Name: "action", Value: "ACCEPT", EnvVars: []string{"SKY_AWS_ACTION"}, Usage: "awsflowlogs: the action field"},
	}
}

// FromFlags returns a transformer set up by the flags.
func FromFlags(c *cli.Context) (*Transformer, error) {
	o := Options{
		Version: c.Int("aws-version"), AccountID: c.String("account-id"), InterfaceID: c.String("interface-id"),
		VpcID: c.String("vpc-id"), SubnetID: c.String("subnet-id"), InstanceID: c.String("instance-id"),
		Region: c.String("region"), AzID: c.String("az-id"), Action: c.String("action"),
	}
	var err error
	if o.Local, err = flow.ParseLocal(c.StringSlice("local-ip")); err != nil {
		return nil, err
	}
	if Fields(o.Version) == nil {
		return nil, fmt.Errorf("--aws-version %d: want 2, 3, 4 or 5", o.Version)
	}
	return &Transformer{o: o}, nil
}

// Transformer makes records; it keeps no state.
type Transformer struct{ o Options }

// New returns a transformer.
func New(o Options) *Transformer { return &Transformer{o: o} }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func protocol(f *flow.Flow) string {
	if f.Transport != nil && f.Transport.IANA() != 0 {
		return strconv.Itoa(f.Transport.IANA())
	}
	if f.ICMP != nil {
		if f.Network.Protocol == "IPV6" {
			return "58"
		}
		return "1"
	}
	return "-"
}

// tcpFlags ORs the flags the sender of one direction (A to B unless
// reply) sent in the record's window: A's SYN is SYN, B's is SYN-ACK.
func tcpFlags(f *flow.Flow, reply bool) int {
	t, m := f.TCPMetric, f.LastUpdateMetric
	if t == nil {
		return 0
	}
	syn, fin, rst, synFlag := t.ABSynStart, t.ABFinStart, t.ABRstStart, FlagSYN
	if reply {
		syn, fin, rst, synFlag = t.BASynStart, t.BAFinStart, t.BARstStart, FlagSYNACK
	}
	flags := 0
	if m.Covers(syn) {
		flags |= synFlag
	}
	if m.Covers(fin) {
		flags |= FlagFIN
	}
	if m.Covers(rst) {
		flags |= FlagRST
	}
	return flags
}

func ipType(p string) string {
	switch p {
	case "IPV4":
		return "IPv4"
	case "IPV6":
		return "IPv6"
	}
	return "-"
}

// direction is a record's flow-direction, from src to dst: by the
// capture point's addresses when known, else by the flow's tag, which
// says it of A to B relative to the cluster (the reply is the other
// way), else "-".
func (t *Transformer) direction(src, dst, tag string, reply bool) string {
	switch {
	case t.o.Local.Has(dst):
		return "ingress"
	case t.o.Local.Has(src):
		return "egress"
	case len(t.o.Local) > 0 || tag != "ingress" && tag != "egress":
		return "-"
	case reply == (tag == "ingress"):
		return "egress"
	}
	return "ingress"
}

// flowFields are the fields of a flow that Flow reads.
var flowFields = flow.Select("ICMP", "LastUpdateMetric", "Network", "NodeTID", "TCPMetric", "Tag", "Transport")

// Fields tells sky-transform which fields of a flow to decode.
func (t *Transformer) Fields() flow.Fields { return flowFields }

// Flow emits a record per direction that carried traffic in the flow's
// window, as AWS logs the two sides of a connection: A to B with A to B's
// packets and bytes, then B to A, addresses and ports swapped, with B to
// A's; a window without traffic has none. A flow without IP addresses
// (ARP) has none in this format.
func (t *Transformer) Flow(f *flow.Flow, emit func(any)) error {
	if f.Network == nil || f.Network.A == "" {
		return nil
	}
	m := f.LastUpdateMetric
	if m == nil {
		return fmt.Errorf("LastUpdateMetric: missing")
	}
	var sport, dport int64
	if f.Transport != nil {
		sport, dport = f.Transport.A, f.Transport.B
	}
	iface := t.o.InterfaceID
	if iface == "" {
		iface = dash(f.NodeTID)
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, reply := range []bool{false, true} {
		src, dst, sp, dp, packets, bytes := f.Network.A, f.Network.B, sport, dport, m.ABPackets, m.ABBytes
		if reply {
			src, dst, sp, dp, packets, bytes = dst, src, dp, sp, m.BAPackets, m.BABytes
		}
		if packets == 0 && bytes == 0 {
			continue
		}
		v := []string{
			strconv.Itoa(t.o.Version), t.o.AccountID, iface, src, dst, itoa(sp), itoa(dp),
			protocol(f), itoa(packets), itoa(bytes), itoa(m.Start / 1000), itoa(m.Last / 1000), t.o.Action, "OK",
			t.o.VpcID, t.o.SubnetID, t.o.InstanceID, strconv.Itoa(tcpFlags(f, reply)), ipType(f.Network.Protocol), src, dst,
			t.o.Region, t.o.AzID, "-", "-",
			"-", "-", t.direction(src, dst, f.Tag, reply), "-",
		}
		emit(&Record{Values: v[:fieldCount[t.o.Version]], Tag: f.Tag})
	}
	return nil
}

// Close has nothing pending.
func (t *Transformer) Close(func(any)) string { return "" }
