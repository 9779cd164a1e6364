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
}

// Flags are the command-line flags of the format.
func Flags() []cli.Flag {
	str := func(name, env, usage string) cli.Flag {
		return &cli.StringFlag{Name: name, Value: "-", EnvVars: []string{env}, Usage: "awsflowlogs: " + usage}
	}
	return []cli.Flag{
		&cli.IntFlag{Name: "aws-version", Value: 2, EnvVars: []string{"SKY_AWS_VERSION"}, Usage: "awsflowlogs: record `VERSION`, 2 to 5 (--version prints the program's)"},
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

// tcpFlags ORs the flags seen in the record's window.
func tcpFlags(f *flow.Flow) int {
	t, m := f.TCPMetric, f.LastUpdateMetric
	if t == nil {
		return 0
	}
	flags := 0
	if m.Covers(t.ABSynStart) {
		flags |= FlagSYN
	}
	if m.Covers(t.BASynStart) {
		flags |= FlagSYNACK
	}
	if m.Covers(t.ABFinStart) || m.Covers(t.BAFinStart) {
		flags |= FlagFIN
	}
	if m.Covers(t.ABRstStart) || m.Covers(t.BARstStart) {
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

func direction(tag string) string {
	if tag == "ingress" || tag == "egress" {
		return tag
	}
	return "-"
}

// flowFields are the fields of a flow that Flow reads.
var flowFields = flow.Select("ICMP", "LastUpdateMetric", "Network", "NodeTID", "TCPMetric", "Tag", "Transport")

// Fields tells sky-transform which fields of a flow to decode.
func (t *Transformer) Fields() flow.Fields { return flowFields }

// Flow emits the record of a flow; a flow without IP addresses (ARP) has
// none in this format and is left out.
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
	v := []string{
		strconv.Itoa(t.o.Version), t.o.AccountID, iface, f.Network.A, f.Network.B, itoa(sport), itoa(dport),
		protocol(f), itoa(m.ABPackets + m.BAPackets), itoa(m.ABBytes + m.BABytes),
		itoa(m.Start / 1000), itoa(m.Last / 1000), t.o.Action, "OK",
		t.o.VpcID, t.o.SubnetID, t.o.InstanceID, strconv.Itoa(tcpFlags(f)), ipType(f.Network.Protocol), f.Network.A, f.Network.B,
		t.o.Region, t.o.AzID, "-", "-",
		"-", "-", direction(f.Tag), "-",
	}
	emit(&Record{Values: v[:fieldCount[t.o.Version]], Tag: f.Tag})
	return nil
}

// Close has nothing pending.
func (t *Transformer) Close(func(any)) string { return "" }
