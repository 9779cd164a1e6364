// Package analyzer speaks the Skydive Analyzer's WebSocket flow API: the
// subscriber handshake, its refusals, and the messages.
package analyzer

import (
	"errors"
	"fmt"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Kinds of frames that carry no flows.
var (
	ErrNotJSON      = errors.New("frame is not a JSON object")
	ErrObjNotArray  = errors.New("store message whose Obj is not an array")
	ErrUnknownType  = errors.New("unknown message type")
	ErrNoFlowObject = errors.New("flow that is not a JSON object")
)

// Message is what a frame holds: its namespace and type and, for a flow
// store message, the bytes of each flow exactly as the analyzer sent them.
type Message struct {
	Namespace string
	Type      string
	Flows     [][]byte
}

// Parse reads a frame in one pass. A store message gives its flows; a
// stats message gives none and no error; anything else is an error that
// wraps one of the Err values above. Flows reuse buf.
func Parse(frame []byte, buf [][]byte) (Message, error) {
	m := Message{Flows: buf[:0]}
	objKind := jsonscan.Invalid
	nonObject := false
	_, err := jsonscan.MembersArray(frame, "Obj", func(start, end int, k jsonscan.Kind) error {
		if k != jsonscan.Object {
			nonObject = true
		}
		m.Flows = append(m.Flows, frame[start:end])
		return nil
	}, func(mem jsonscan.Member) error {
		switch {
		case mem.Is("Namespace") && mem.Kind == jsonscan.String:
			m.Namespace, _ = jsonscan.StringValue(frame[mem.Start:mem.End])
		case mem.Is("Type") && mem.Kind == jsonscan.String:
			m.Type, _ = jsonscan.StringValue(frame[mem.Start:mem.End])
		case mem.Is("Obj"):
			objKind = mem.Kind
		}
		return nil
	})
	if err != nil {
		m.Flows = m.Flows[:0]
		return m, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	switch {
	case m.Type == "stats":
		m.Flows = m.Flows[:0]
		return m, nil
	case m.Type != "store":
		m.Flows = m.Flows[:0]
		return m, fmt.Errorf("%w %q", ErrUnknownType, m.Type)
	case objKind != jsonscan.Array:
		m.Flows = m.Flows[:0]
		return m, ErrObjNotArray
	case nonObject:
		m.Flows = m.Flows[:0]
		return m, ErrNoFlowObject
	}
	return m, nil
}
