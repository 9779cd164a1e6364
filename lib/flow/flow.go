// Package flow holds the Skydive flow as the analyzer sends it
// (testdata/analyzer holds real frames), for the stages that decode whole flows. Fields are in the
// analyzer's order so that encoding a decoded flow gives its bytes back.
package flow

import jsoniter "github.com/json-iterator/go"

// Flow is one Skydive flow.
type Flow struct {
	UUID               string              `json:"UUID" parquet:"UUID,plain"`
	LayersPath         string              `json:"LayersPath"`
	Application        string              `json:"Application"`
	Link               *Layer              `json:"Link,omitempty"`
	Network            *Layer              `json:"Network,omitempty"`
	ICMP               *ICMP               `json:"ICMP,omitempty"`
	Transport          *Transport          `json:"Transport,omitempty"`
	DHCPv4             jsoniter.RawMessage `json:"DHCPv4,omitempty" parquet:"DHCPv4,optional,json"`
	DNS                jsoniter.RawMessage `json:"DNS,omitempty" parquet:"DNS,optional,json"`
	VRRPv2             jsoniter.RawMessage `json:"VRRPv2,omitempty" parquet:"VRRPv2,optional,json"`
	LastUpdateMetric   *Metric             `json:"LastUpdateMetric,omitempty"`
	Metric             *Metric             `json:"Metric,omitempty"`
	TCPMetric          *TCPMetric          `json:"TCPMetric,omitempty"`
	IPMetric           *IPMetric           `json:"IPMetric,omitempty"`
	Start              int64               `json:"Start"`
	Last               int64               `json:"Last"`
	TrackingID         string              `json:"TrackingID" parquet:"TrackingID,plain"`
	L3TrackingID       string              `json:"L3TrackingID" parquet:"L3TrackingID,plain"`
	ParentUUID         string              `json:"ParentUUID"`
	NodeTID            string              `json:"NodeTID"`
	CaptureID          string              `json:"CaptureID"`
	RawPacketsCaptured int64               `json:"RawPacketsCaptured"`
	FinishType         FinishType          `json:"FinishType,omitempty"`
	// Tag is the class sky-classify wrote; the analyzer sends none.
	Tag string `json:"Tag,omitempty"`
}

// Layer is the Link or Network layer: Protocol is ETHERNET, IPV4, IPV6...
type Layer struct {
	Protocol string `json:"Protocol"`
	A        string `json:"A"`
	B        string `json:"B"`
	ID       int64  `json:"ID"`
}

// Transport is the transport layer, with integer ports.
type Transport struct {
	Protocol string `json:"Protocol"`
	A        int64  `json:"A"`
	B        int64  `json:"B"`
	ID       int64  `json:"ID"`
}

// ICMP is the ICMP layer; Type is a string enum such as ECHO.
type ICMP struct {
	Type string `json:"Type"`
	Code uint32 `json:"Code,omitempty"`
	ID   uint32 `json:"ID,omitempty"`
}

// Metric counts packets and bytes each way; times are epoch milliseconds,
// RTT nanoseconds.
type Metric struct {
	ABPackets int64 `json:"ABPackets"`
	ABBytes   int64 `json:"ABBytes"`
	BAPackets int64 `json:"BAPackets"`
	BABytes   int64 `json:"BABytes"`
	Start     int64 `json:"Start"`
	Last      int64 `json:"Last"`
	RTT       int64 `json:"RTT,omitempty"`
}

// Covers reports whether the time t (0: never) falls in the window m.
func (m *Metric) Covers(t int64) bool { return t != 0 && t >= m.Start && t <= m.Last }

// TCPMetric holds the TCP handshake and teardown times and segment counters.
type TCPMetric struct {
	ABSynStart            int64 `json:"ABSynStart"`
	BASynStart            int64 `json:"BASynStart"`
	ABSynTTL              int64 `json:"ABSynTTL"`
	BASynTTL              int64 `json:"BASynTTL"`
	ABFinStart            int64 `json:"ABFinStart"`
	BAFinStart            int64 `json:"BAFinStart"`
	ABRstStart            int64 `json:"ABRstStart"`
	BARstStart            int64 `json:"BARstStart"`
	ABSegmentOutOfOrder   int64 `json:"ABSegmentOutOfOrder"`
	ABSegmentSkipped      int64 `json:"ABSegmentSkipped"`
	ABSegmentSkippedBytes int64 `json:"ABSegmentSkippedBytes"`
	ABPackets             int64 `json:"ABPackets"`
	ABBytes               int64 `json:"ABBytes"`
	ABSawStart            int64 `json:"ABSawStart"`
	ABSawEnd              int64 `json:"ABSawEnd"`
	BASegmentOutOfOrder   int64 `json:"BASegmentOutOfOrder"`
	BASegmentSkipped      int64 `json:"BASegmentSkipped"`
	BASegmentSkippedBytes int64 `json:"BASegmentSkippedBytes"`
	BAPackets             int64 `json:"BAPackets"`
	BABytes               int64 `json:"BABytes"`
	BASawStart            int64 `json:"BASawStart"`
	BASawEnd              int64 `json:"BASawEnd"`
}

// IANA returns the IANA protocol number of the transport, 0 if unknown.
func (t *Transport) IANA() int {
	switch t.Protocol {
	case "TCP":
		return 6
	case "UDP":
		return 17
	case "SCTP":
		return 132
	}
	return 0
}

// IPMetric counts IP fragments.
type IPMetric struct {
	Fragments      int64 `json:"Fragments"`
	FragmentErrors int64 `json:"FragmentErrors"`
}

// FinishType says how a flow ended.
type FinishType int

// Time is when the flow was last reported: the end of its last update
// window, or its last packet for a flow without one.
func (f *Flow) Time() int64 {
	if f.LastUpdateMetric != nil && f.LastUpdateMetric.Last > 0 {
		return f.LastUpdateMetric.Last
	}
	return f.Last
}

// The finish types.
const (
	NotFinished FinishType = 0
	Timeout     FinishType = 1
	TCPFin      FinishType = 2
	TCPRst      FinishType = 3
)

// Message is a WebSocket message of the analyzer; a flow store message has
// Namespace flow (or flow/<captureID>), Type store and an array of flows in Obj.
type Message struct {
	Namespace string              `json:"Namespace"`
	Type      string              `json:"Type"`
	UUID      string              `json:"UUID,omitempty"`
	Status    int                 `json:"Status"`
	Obj       jsoniter.RawMessage `json:"Obj"`
}

// JSON is the jsoniter configuration the stages use to decode and encode
// flows: compatible with encoding/json, so key order and escaping match Go's.
var JSON = jsoniter.ConfigCompatibleWithStandardLibrary
