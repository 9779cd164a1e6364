package vpclogs

import (
	"errors"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Decode reads a record from its JSON text in one pass, as reflection
// with field names matched as written did, in less time: unknown fields
// are skipped, null is the zero value, and a field of another type is an
// error that names it. see, if not nil, is handed the members it wants
// first, and those it skips are left out.
func Decode(data []byte, r *Record, see *jsonscan.See) error {
	*r = Record{}
	return jsonscan.WalkText(data, func(m jsonscan.Member) (int, error) {
		end, k, err := jsonscan.Skip(data, m.Start)
		if err != nil {
			return end, err
		}
		return end, r.field(string(m.Unescaped()), data[m.Start:end], k)
	}, see)
}

// field sets the field named key, whose value is v.
func (r *Record) field(key string, v []byte, k jsonscan.Kind) error {
	if s := r.strings(key); s != nil {
		return flow.ReadString(s, v, k, key)
	}
	if n := r.integers(key); n != nil {
		return flow.ReadInt(n, v, k, key)
	}
	switch key {
	case "transport_protocol":
		n := int64(r.TransportProtocol)
		err := flow.ReadInt(&n, v, k, key)
		r.TransportProtocol = int(n)
		return err
	case "was_initiated":
		return readBool(&r.WasInitiated, v, k, key)
	case "was_terminated":
		return readBool(&r.WasTerminated, v, k, key)
	}
	return nil
}

// strings is the string field named key, or nil.
func (r *Record) strings(key string) *string {
	switch key {
	case "start_time":
		return &r.StartTime
	case "end_time":
		return &r.EndTime
	case "connection_start_time":
		return &r.ConnectionStartTime
	case "direction":
		return &r.Direction
	case "action":
		return &r.Action
	case "initiator_ip":
		return &r.InitiatorIP
	case "target_ip":
		return &r.TargetIP
	case "ether_type":
		return &r.EtherType
	case "Tag":
		return &r.Tag
	}
	return nil
}

// integers is the integer field named key, or nil.
func (r *Record) integers(key string) *int64 {
	switch key {
	case "initiator_port":
		return &r.InitiatorPort
	case "target_port":
		return &r.TargetPort
	case "bytes_from_initiator":
		return &r.BytesFromInitiator
	case "packets_from_initiator":
		return &r.PacketsFromInitiator
	case "bytes_from_target":
		return &r.BytesFromTarget
	case "packets_from_target":
		return &r.PacketsFromTarget
	case "cumulative_bytes_from_initiator":
		return &r.CumulativeBytesFromInitiator
	case "cumulative_packets_from_initiator":
		return &r.CumulativePacketsFromInitiator
	case "cumulative_bytes_from_target":
		return &r.CumulativeBytesFromTarget
	case "cumulative_packets_from_target":
		return &r.CumulativePacketsFromTarget
	}
	return nil
}

// readBool sets dst to the boolean v (null leaves it).
func readBool(dst *bool, v []byte, k jsonscan.Kind, name string) error {
	switch {
	case k == jsonscan.Null:
	case k == jsonscan.Bool:
		*dst = v[0] == 't'
	default:
		return errors.New(name + ": want a boolean, got " + k.String())
	}
	return nil
}
