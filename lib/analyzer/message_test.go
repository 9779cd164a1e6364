package analyzer

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/skyflows/skyflows/lib/flowgen"
)

func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	if err := flowgen.New(1).WriteFrames(&buf, 100, 100); err != nil {
		b.Fatal(err)
	}
	frame := bytes.TrimSpace(buf.Bytes())
	b.SetBytes(int64(len(frame)))
	var flows [][]byte
	for b.Loop() {
		m, err := Parse(frame, flows)
		if err != nil || len(m.Flows) != 100 {
			b.Fatal(err, len(m.Flows))
		}
		flows = m.Flows[:0]
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		frame string
		flows int
		err   error
	}{
		{`{"Namespace":"flow","Type":"store","UUID":"u","Status":200,"Obj":[{"UUID":"a"},{"UUID":"b"}]}`, 2, nil},
		{`{"Namespace":"flow/x","Type":"store","Obj":[]}`, 0, nil},
		{`{"Namespace":"stats","Type":"stats","Obj":{"FlowCount":1}}`, 0, nil},
		{`not json`, 0, ErrNotJSON},
		{`{"Type":"store","Obj":[{"UUID":"a"}`, 0, ErrNotJSON},
		{`{"Type":"store","Obj":{"a":1}}`, 0, ErrObjNotArray},
		{`{"Type":"store"}`, 0, ErrObjNotArray},
		{`{"Type":"store","Obj":[{"UUID":"a"},2]}`, 0, ErrNoFlowObject},
		{`{"Type":"other","Obj":[]}`, 0, ErrUnknownType},
		{`[1]`, 0, ErrNotJSON},
	}
	for _, c := range cases {
		m, err := Parse([]byte(c.frame), nil)
		if !errors.Is(err, c.err) || len(m.Flows) != c.flows {
			t.Errorf("Parse(%s) = %d flows, %v; want %d, %v", c.frame, len(m.Flows), err, c.flows, c.err)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8082":              "ws://127.0.0.1:8082/ws/subscriber/flow",
		"ws://a:8082":                 "ws://a:8082/ws/subscriber/flow",
		"https://a/":                  "wss://a/ws/subscriber/flow",
		"wss://a:8443/custom/path":    "wss://a:8443/custom/path",
		"ws://user:pw@a:1":            "ws://user:pw@a:1/ws/subscriber/flow",
		"http://a:1?x-client-type=me": "ws://a:1/ws/subscriber/flow?x-client-type=me",
	} {
		u, err := Endpoint(in)
		if err != nil || u.String() != want {
			t.Errorf("Endpoint(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://a", "ws://", "ws://u:secret@a b"} {
		_, err := Endpoint(bad)
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("Endpoint(%q): %v", bad, err)
		}
	}
}

// FuzzParse checks that any frame either gives flows that are the
// elements of its Obj, byte for byte, or an error: never a crash.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Namespace":"flow","Type":"store","Obj":[{"UUID":"a"},{"UUID":"b","X":[1,{"y":null}]}]}`))
	f.Add([]byte(`{"Type":"stats","Obj":{}}`))
	f.Add([]byte(`{"Type":"store","Obj":[1]}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Parse(frame, nil)
		if err != nil {
			if len(m.Flows) != 0 {
				t.Fatalf("flows with an error: %v", err)
			}
			return
		}
		if !json.Valid(frame) && utf8.Valid(frame) {
			t.Fatalf("accepted %q that encoding/json refuses", frame)
		}
		if m.Type == "stats" || !utf8.Valid(frame) {
			return
		}
		var want struct{ Obj []json.RawMessage }
		if err := json.Unmarshal(frame, &want); err != nil {
			t.Fatalf("store frame %q: %v", frame, err)
		}
		if len(want.Obj) != len(m.Flows) {
			t.Fatalf("%d flows, encoding/json sees %d", len(m.Flows), len(want.Obj))
		}
		for i := range m.Flows {
			if !bytes.Equal(m.Flows[i], want.Obj[i]) || m.Flows[i][0] != '{' {
				t.Fatalf("flow %d = %s, want %s", i, m.Flows[i], want.Obj[i])
			}
		}
	})
}

func TestRecord(t *testing.T) {
	at := time.UnixMilli(1795731701186)
	line := AppendRecord(nil, at, []byte(`{"Type":"store"}`))
	frame, got, timed, err := SplitRecord(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil || !timed || !got.Equal(at) || string(frame) != `{"Type":"store"}` {
		t.Errorf("round trip: %q %v %v %v", frame, got, timed, err)
	}
	if frame, _, timed, _ := SplitRecord([]byte("{\"a\":\"\\t\"}")); timed || string(frame) != "{\"a\":\"\\t\"}" {
		t.Error("a bare frame with a tab in it was split")
	}
	if _, _, _, err := SplitRecord([]byte("soon\t{}")); err == nil {
		t.Error("a bad time passed")
	}
}
