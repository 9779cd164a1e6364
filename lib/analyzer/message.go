// Package analyzer speaks the Skydive Analyzer's WebSocket flow API
// (DESIGN.md §2): the subscriber handshake, its refusals, and the messages.
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

// Parse reads a frame. A store message gives its flows; a stats message
// gives none and no error; anything else is an error that wraps one of the
// Err values above. Flows reuse buf, which is returned for the next call.
func Parse(frame []byte, buf [][]byte) (Message, error) {
	var m Message
	var obj []byte
	var objKind jsonscan.Kind
	_, err := jsonscan.Members(frame, func(mem jsonscan.Member) error {
		switch {
		case mem.Is("Namespace") && mem.Kind == jsonscan.String:
			m.Namespace, _ = jsonscan.StringValue(frame[mem.Start:mem.End])
		case mem.Is("Type") && mem.Kind == jsonscan.String:
			m.Type, _ = jsonscan.StringValue(frame[mem.Start:mem.End])
		case mem.Is("Obj"):
			obj, objKind = frame[mem.Start:mem.End], mem.Kind
		}
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	switch m.Type {
	case "store":
	case "stats":
		return m, nil
	default:
		return m, fmt.Errorf("%w %q", ErrUnknownType, m.Type)
	}
	if objKind != jsonscan.Array {
		return m, ErrObjNotArray
	}
	flows := buf[:0]
	err = jsonscan.Elements(obj, func(start, end int, k jsonscan.Kind) error {
		if k != jsonscan.Object {
			return ErrNoFlowObject
		}
		flows = append(flows, obj[start:end])
		return nil
	})
	m.Flows = flows
	return m, err
}
