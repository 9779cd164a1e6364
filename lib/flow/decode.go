package flow

import (
	"errors"
	"fmt"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Decode reads a flow from its JSON text in one pass, several times
// faster than reflection: unknown fields are skipped, null is the zero
// value, and a field of another type is an error that names it.
func Decode(data []byte, f *Flow) error { return DecodeFields(data, f, AllFields) }

// Fields is a set of the top-level fields of a flow.
type Fields uint32

// AllFields holds every field.
const AllFields = ^Fields(0)

// Select returns the set of the named fields; a name that is not a
// field's is a programming error, and panics.
func Select(names ...string) Fields {
	var s Fields
	for _, n := range names {
		b := field([]byte(n))
		if b == 0 {
			panic("flow.Select: no field " + n)
		}
		s |= b
	}
	return s
}

// field returns the bit of the top-level field named key, or 0.
func field(key []byte) Fields {
	switch string(key) {
	case "UUID":
		return 1 << 0
	case "LayersPath":
		return 1 << 1
	case "Application":
		return 1 << 2
	case "Link":
		return 1 << 3
	case "Network":
		return 1 << 4
	case "ICMP":
		return 1 << 5
	case "Transport":
		return 1 << 6
	case "DHCPv4":
		return 1 << 7
	case "DNS":
		return 1 << 8
	case "VRRPv2":
		return 1 << 9
	case "LastUpdateMetric":
		return 1 << 10
	case "Metric":
		return 1 << 11
	case "TCPMetric":
		return 1 << 12
	case "IPMetric":
		return 1 << 13
	case "Start":
		return 1 << 14
	case "Last":
		return 1 << 15
	case "TrackingID":
		return 1 << 16
	case "L3TrackingID":
		return 1 << 17
	case "ParentUUID":
		return 1 << 18
	case "NodeTID":
		return 1 << 19
	case "CaptureID":
		return 1 << 20
	case "RawPacketsCaptured":
		return 1 << 21
	case "FinishType":
		return 1 << 22
	case "Tag":
		return 1 << 23
	}
	return 0
}

// DecodeFields is Decode that sets only the fields in want: the others are
// only checked to be valid JSON, which spares a stage the work of decoding
// what it does not read.
func DecodeFields(data []byte, f *Flow, want Fields) error { return decode(data, f, want, nil) }

// DecodeSeeing is Decode that hands see the top-level members it wants
// first, and leaves out those it skips.
func DecodeSeeing(data []byte, f *Flow, see *jsonscan.See) error {
	return decode(data, f, AllFields, see)
}

func decode(data []byte, f *Flow, want Fields, see *jsonscan.See) error {
	*f = Flow{}
	return jsonscan.WalkText(data, func(m jsonscan.Member) (int, error) {
		key := m.Unescaped()
		if want != AllFields && want&field(key) == 0 {
			end, _, err := jsonscan.Skip(data, m.Start)
			return end, err
		}
		switch string(key) {
		case "Link":
			return layer(&f.Link, data, m.Start, "Link")
		case "Network":
			return layer(&f.Network, data, m.Start, "Network")
		case "ICMP":
			return icmp(&f.ICMP, data, m.Start)
		case "Transport":
			return transport(&f.Transport, data, m.Start)
		case "LastUpdateMetric":
			return metric(&f.LastUpdateMetric, data, m.Start, "LastUpdateMetric")
		case "Metric":
			return metric(&f.Metric, data, m.Start, "Metric")
		case "TCPMetric":
			return tcpMetric(&f.TCPMetric, data, m.Start)
		case "IPMetric":
			return ipMetric(&f.IPMetric, data, m.Start)
		case "Start":
			return intAt(&f.Start, data, m.Start, path{key: key})
		case "Last":
			return intAt(&f.Last, data, m.Start, path{key: key})
		}
		end, k, err := jsonscan.Skip(data, m.Start)
		if err != nil {
			return end, err
		}
		return end, f.scalar(path{key: key}, data[m.Start:end], k)
	}, see)
}

// scalar sets the top-level field name to the value v.
func (f *Flow) scalar(name path, v []byte, k jsonscan.Kind) error {
	switch string(name.key) {
	case "UUID":
		return str(&f.UUID, v, k, name)
	case "LayersPath":
		return enum(&f.LayersPath, v, k, name)
	case "Application":
		return enum(&f.Application, v, k, name)
	case "DHCPv4":
		f.DHCPv4 = raw(v, k)
	case "DNS":
		f.DNS = raw(v, k)
	case "VRRPv2":
		f.VRRPv2 = raw(v, k)
	case "TrackingID":
		return str(&f.TrackingID, v, k, name)
	case "L3TrackingID":
		return str(&f.L3TrackingID, v, k, name)
	case "ParentUUID":
		return str(&f.ParentUUID, v, k, name)
	case "NodeTID":
		return str(&f.NodeTID, v, k, name)
	case "CaptureID":
		return str(&f.CaptureID, v, k, name)
	case "RawPacketsCaptured":
		return integer(&f.RawPacketsCaptured, v, k, name)
	case "FinishType":
		var n int64
		err := integer(&n, v, k, name)
		f.FinishType = FinishType(n)
		return err
	case "Tag":
		return enum(&f.Tag, v, k, name)
	}
	return nil
}

// The readers of one value, for the decoders of records made of a
// flow's parts (secadvisor's): name is the field's, for errors.

// ReadString sets dst to the string v (null leaves it), sharing the
// strings that every flow repeats.
func ReadString(dst *string, v []byte, k jsonscan.Kind, name string) error {
	return enum(dst, v, k, path{parent: name})
}

// ReadText sets dst to the string v (null leaves it), one that seldom
// repeats: an id or an address.
func ReadText(dst *string, v []byte, k jsonscan.Kind, name string) error {
	return str(dst, v, k, path{parent: name})
}

// ReadInt sets dst to the integer v (null leaves it).
func ReadInt(dst *int64, v []byte, k jsonscan.Kind, name string) error {
	return integer(dst, v, k, path{parent: name})
}

// ReadIntAt reads the integer at d[i] into dst (null leaves it) and
// returns its end, in one pass when it can.
func ReadIntAt(dst *int64, d []byte, i int, name string) (int, error) {
	return intAt(dst, d, i, path{parent: name})
}

// ReadMetric reads the metric at d[i] into a new Metric (null leaves dst
// nil) and returns its end.
func ReadMetric(dst **Metric, d []byte, i int, name string) (int, error) {
	return metric(dst, d, i, name)
}

// path names a field for errors; it is joined only when one is made.
type path struct {
	parent string
	key    []byte
}

func (p path) String() string {
	if p.key == nil {
		return p.parent
	}
	if p.parent == "" {
		return string(p.key)
	}
	return p.parent + "." + string(p.key)
}

func typeError(name path, k jsonscan.Kind, want string) error {
	return fmt.Errorf("%s: want %s, got %s", name, want, k)
}

// enums are the strings that recur in every flow, shared, not allocated.
// They are looked up in a table indexed by a hash of their length and
// four of their bytes: one probe and one comparison (a map lookup took
// a sixth of a secadvisor record's decoding).
var (
	enumList = []string{"ETHERNET", "IPV4", "IPV6", "TCP", "UDP", "SCTP", "ICMPV4", "ICMPV6",
		"ECHO", "ECHO_REPLY", "Ethernet/IPv4/TCP", "Ethernet/IPv4/UDP", "Ethernet/IPv4/ICMPv4",
		"Ethernet/IPv6/TCP", "Ethernet/IPv6/UDP", "Ethernet/IPv6/ICMPv6", "Ethernet/ARP", "ARP",
		"HTTP", "DNS", "ICMPv4", "ICMPv6", "internal", "egress", "ingress", "other"}
	enums   [256]string
	enumMul uint64
)

func init() {
	// The first odd multiplier from a fixed one that gives each string a
	// slot of its own.
	for mul := uint64(0x9e3779b97f4a7c15); !placeEnums(enumList, mul); mul += 2 {
	}
}

// placeEnums fills enums with list by mul, if each string gets a slot
// of its own.
func placeEnums(list []string, mul uint64) bool {
	var table [256]string
	for _, s := range list {
		h := enumHash(s, mul)
		if table[h] != "" {
			return false
		}
		table[h] = s
	}
	enums, enumMul = table, mul
	return true
}

// enumHash is the slot of s, at least two bytes long, for mul.
func enumHash[T string | []byte](s T, mul uint64) uint8 {
	n := len(s)
	k := uint64(n) | uint64(s[0])<<8 | uint64(s[n-1])<<16 | uint64(s[n*3/4])<<24 | uint64(s[n-2])<<32
	return uint8((k * mul) >> 56)
}

// sharedEnum returns the enum equal to b, if there is one.
func sharedEnum(b []byte) (string, bool) {
	if len(b) < 2 {
		return "", len(b) == 0
	}
	s := enums[enumHash(b, enumMul)]
	return s, s == string(b)
}

func str(dst *string, v []byte, k jsonscan.Kind, name path) error {
	switch k {
	case jsonscan.Null:
		return nil
	case jsonscan.String:
	default:
		return typeError(name, k, "a string")
	}
	s, err := jsonscan.StringValue(v)
	*dst = s
	return err
}

// enum reads a string that is one of a few values, as a protocol name is,
// and shares the known ones.
func enum(dst *string, v []byte, k jsonscan.Kind, name path) error {
	if k == jsonscan.String {
		if s, ok := sharedEnum(v[1 : len(v)-1]); ok {
			*dst = s
			return nil
		}
	}
	return str(dst, v, k, name)
}

var errRange = errors.New("out of range")

// integer reads a JSON number that is an integer, as encoding/json does
// into an int64.
func integer(dst *int64, v []byte, k jsonscan.Kind, name path) error {
	switch k {
	case jsonscan.Null:
		return nil
	case jsonscan.Number:
	default:
		return typeError(name, k, "a number")
	}
	neg := v[0] == '-'
	digits := v
	if neg {
		digits = v[1:]
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return fmt.Errorf("%s: want an integer, got %s", name, v)
		}
		if n > (1<<63)/10 {
			return fmt.Errorf("%s: %s: %w", name, v, errRange)
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63 || (!neg && n == 1<<63) {
		return fmt.Errorf("%s: %s: %w", name, v, errRange)
	}
	*dst = int64(n)
	if neg {
		*dst = -int64(n)
	}
	return nil
}

func uinteger(dst *uint32, v []byte, k jsonscan.Kind, name path) error {
	var n int64
	if err := integer(&n, v, k, name); err != nil {
		return err
	}
	if n < 0 || n > 1<<32-1 {
		return fmt.Errorf("%s: %d: %w", name, n, errRange)
	}
	*dst = uint32(n)
	return nil
}

func raw(v []byte, k jsonscan.Kind) []byte {
	if k == jsonscan.Null {
		return nil
	}
	return append([]byte(nil), v...)
}

// object decodes the nested object at d[i] with fn, one member at a time,
// and returns its end; present is false for null.
func object(d []byte, i int, name string, fn func(key path, v []byte, k jsonscan.Kind) error) (end int, present bool, err error) {
	if d[i] != '{' {
		return notObject(d, i, name)
	}
	end, err = jsonscan.Walk(d, i, func(m jsonscan.Member) (int, error) {
		vend, k, err := jsonscan.Skip(d, m.Start)
		if err != nil {
			return vend, err
		}
		return vend, fn(path{name, m.Unescaped()}, d[m.Start:vend], k)
	})
	return end, true, err
}

// notObject skips the value at d[i], which is not an object: null, or an
// error.
func notObject(d []byte, i int, name string) (end int, present bool, err error) {
	end, k, err := jsonscan.Skip(d, i)
	if err == nil && k != jsonscan.Null {
		err = typeError(path{key: []byte(name)}, k, "an object")
	}
	return end, false, err
}

// counters decodes the object at d[i] whose members are integers, each
// read in one pass (jsonscan.Int) into where field points (nil: the
// member is skipped), and returns its end; present is false for null.
func counters(d []byte, i int, name string, field func(key []byte) *int64) (end int, present bool, err error) {
	if d[i] != '{' {
		return notObject(d, i, name)
	}
	end, err = jsonscan.Walk(d, i, func(m jsonscan.Member) (int, error) {
		key := m.Unescaped()
		if p := field(key); p != nil {
			return intAt(p, d, m.Start, path{name, key})
		}
		vend, _, err := jsonscan.Skip(d, m.Start)
		return vend, err
	})
	return end, true, err
}

// intAt reads the integer at d[i] into dst (null leaves it) and returns
// its end, in one pass when it can (jsonscan.Int).
func intAt(dst *int64, d []byte, i int, name path) (int, error) {
	if n, end, ok := jsonscan.Int(d, i); ok {
		*dst = n
		return end, nil
	}
	end, k, err := jsonscan.Skip(d, i)
	if err != nil {
		return end, err
	}
	return end, integer(dst, d[i:end], k, name)
}

func layer(dst **Layer, d []byte, i int, name string) (int, error) {
	l := &Layer{}
	if end, ok := l.readInOrder(d, i); ok {
		*dst = l
		return end, nil
	}
	return l.read(dst, d, i, name)
}

// read reads the layer at d[i] into l the long way, and points dst at l
// (null leaves it).
func (l *Layer) read(dst **Layer, d []byte, i int, name string) (int, error) {
	end, ok, err := object(d, i, name, func(key path, v []byte, k jsonscan.Kind) error {
		switch string(key.key) {
		case "Protocol":
			return enum(&l.Protocol, v, k, key)
		case "A":
			return str(&l.A, v, k, key)
		case "B":
			return str(&l.B, v, k, key)
		case "ID":
			return integer(&l.ID, v, k, key)
		}
		return nil
	})
	if ok {
		*dst = l
	}
	return end, err
}

func transport(dst **Transport, d []byte, i int) (int, error) {
	t := &Transport{}
	if end, ok := t.readInOrder(d, i); ok {
		*dst = t
		return end, nil
	}
	return t.read(dst, d, i)
}

// read reads the transport layer at d[i] into t the long way, and points
// dst at t (null leaves it).
func (t *Transport) read(dst **Transport, d []byte, i int) (int, error) {
	end, ok, err := object(d, i, "Transport", func(key path, v []byte, k jsonscan.Kind) error {
		switch string(key.key) {
		case "Protocol":
			return enum(&t.Protocol, v, k, key)
		case "A":
			return integer(&t.A, v, k, key)
		case "B":
			return integer(&t.B, v, k, key)
		case "ID":
			return integer(&t.ID, v, k, key)
		}
		return nil
	})
	if ok {
		*dst = t
	}
	return end, err
}

func icmp(dst **ICMP, d []byte, i int) (int, error) {
	c := &ICMP{}
	end, ok, err := object(d, i, "ICMP", func(key path, v []byte, k jsonscan.Kind) error {
		switch string(key.key) {
		case "Type":
			return enum(&c.Type, v, k, key)
		case "Code":
			return uinteger(&c.Code, v, k, key)
		case "ID":
			return uinteger(&c.ID, v, k, key)
		}
		return nil
	})
	if ok {
		*dst = c
	}
	return end, err
}

func metric(dst **Metric, d []byte, i int, name string) (int, error) {
	m := &Metric{}
	if end, ok := m.readInOrder(d, i); ok {
		*dst = m
		return end, nil
	}
	end, ok, err := counters(d, i, name, m.field)
	if ok {
		*dst = m
	}
	return end, err
}

// The readInOrder methods read a part written as Skydive writes it:
// its members in order, no white space, each key compared to the one
// expected, not scanned and looked up (a third of a secadvisor record's
// decoding went to the keys of its two metrics). ok is false for any
// other text, which the caller reads the long way; the part is then left
// as it was.

// metricKeys are a metric's members in order, RTT left out when zero.
var metricKeys = [...]string{`{"ABPackets":`, `,"ABBytes":`, `,"BAPackets":`, `,"BABytes":`, `,"Start":`, `,"Last":`, `,"RTT":`}

func (m *Metric) readInOrder(d []byte, i int) (end int, ok bool) {
	var v [len(metricKeys)]int64
	for k, key := range metricKeys {
		if k == len(metricKeys)-1 && i < len(d) && d[i] == '}' {
			break // no RTT
		}
		if i = jsonscan.After(d, i, key); i < 0 {
			return 0, false
		}
		if v[k], i, ok = jsonscan.Int(d, i); !ok {
			return 0, false
		}
	}
	if i >= len(d) || d[i] != '}' {
		return 0, false
	}
	*m = Metric{ABPackets: v[0], ABBytes: v[1], BAPackets: v[2], BABytes: v[3], Start: v[4], Last: v[5], RTT: v[6]}
	return i + 1, true
}

func (l *Layer) readInOrder(d []byte, i int) (end int, ok bool) {
	var x Layer
	for n, key := range [...]string{`{"Protocol":`, `,"A":`, `,"B":`} {
		if i = jsonscan.After(d, i, key); i < 0 {
			return 0, false
		}
		end, k, err := jsonscan.Skip(d, i)
		if err != nil || k != jsonscan.String {
			return 0, false
		}
		if n == 0 {
			err = enum(&x.Protocol, d[i:end], k, path{})
		} else {
			err = str([...]*string{&x.A, &x.B}[n-1], d[i:end], k, path{})
		}
		if err != nil {
			return 0, false
		}
		i = end
	}
	if x.ID, end, ok = idInOrder(d, i); ok {
		*l = x
	}
	return end, ok
}

func (t *Transport) readInOrder(d []byte, i int) (end int, ok bool) {
	var x Transport
	if i = jsonscan.After(d, i, `{"Protocol":`); i < 0 {
		return 0, false
	}
	end, k, err := jsonscan.Skip(d, i)
	if err != nil || k != jsonscan.String || enum(&x.Protocol, d[i:end], k, path{}) != nil {
		return 0, false
	}
	i = end
	for n, key := range [...]string{`,"A":`, `,"B":`} {
		if i = jsonscan.After(d, i, key); i < 0 {
			return 0, false
		}
		if *[...]*int64{&x.A, &x.B}[n], i, ok = jsonscan.Int(d, i); !ok {
			return 0, false
		}
	}
	if x.ID, end, ok = idInOrder(d, i); ok {
		*t = x
	}
	return end, ok
}

// idInOrder reads the ID member that ends a layer, at d[i], and the end
// of the layer.
func idInOrder(d []byte, i int) (id int64, end int, ok bool) {
	if i = jsonscan.After(d, i, `,"ID":`); i < 0 {
		return 0, 0, false
	}
	if id, i, ok = jsonscan.Int(d, i); !ok || i >= len(d) || d[i] != '}' {
		return 0, 0, false
	}
	return id, i + 1, true
}

// field returns the counter of m named key, or nil.
func (m *Metric) field(key []byte) *int64 {
	switch string(key) {
	case "ABPackets":
		return &m.ABPackets
	case "ABBytes":
		return &m.ABBytes
	case "BAPackets":
		return &m.BAPackets
	case "BABytes":
		return &m.BABytes
	case "Start":
		return &m.Start
	case "Last":
		return &m.Last
	case "RTT":
		return &m.RTT
	}
	return nil
}

// field returns the counter of t named key, or nil.
func (t *TCPMetric) field(key []byte) *int64 {
	switch string(key) {
	case "ABSynStart":
		return &t.ABSynStart
	case "BASynStart":
		return &t.BASynStart
	case "ABSynTTL":
		return &t.ABSynTTL
	case "BASynTTL":
		return &t.BASynTTL
	case "ABFinStart":
		return &t.ABFinStart
	case "BAFinStart":
		return &t.BAFinStart
	case "ABRstStart":
		return &t.ABRstStart
	case "BARstStart":
		return &t.BARstStart
	case "ABSegmentOutOfOrder":
		return &t.ABSegmentOutOfOrder
	case "ABSegmentSkipped":
		return &t.ABSegmentSkipped
	case "ABSegmentSkippedBytes":
		return &t.ABSegmentSkippedBytes
	case "ABPackets":
		return &t.ABPackets
	case "ABBytes":
		return &t.ABBytes
	case "ABSawStart":
		return &t.ABSawStart
	case "ABSawEnd":
		return &t.ABSawEnd
	case "BASegmentOutOfOrder":
		return &t.BASegmentOutOfOrder
	case "BASegmentSkipped":
		return &t.BASegmentSkipped
	case "BASegmentSkippedBytes":
		return &t.BASegmentSkippedBytes
	case "BAPackets":
		return &t.BAPackets
	case "BABytes":
		return &t.BABytes
	case "BASawStart":
		return &t.BASawStart
	case "BASawEnd":
		return &t.BASawEnd
	}
	return nil
}

func tcpMetric(dst **TCPMetric, d []byte, i int) (int, error) {
	t := &TCPMetric{}
	end, ok, err := counters(d, i, "TCPMetric", t.field)
	if ok {
		*dst = t
	}
	return end, err
}

func ipMetric(dst **IPMetric, d []byte, i int) (int, error) {
	m := &IPMetric{}
	end, ok, err := counters(d, i, "IPMetric", func(key []byte) *int64 {
		switch string(key) {
		case "Fragments":
			return &m.Fragments
		case "FragmentErrors":
			return &m.FragmentErrors
		}
		return nil
	})
	if ok {
		*dst = m
	}
	return end, err
}
