package flow

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	jsoniter "github.com/json-iterator/go"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

func fixtureFlows(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/flows/recorded.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

// TestDecodeAgrees: Decode reads every recorded flow as json-iterator does.
func TestDecodeAgrees(t *testing.T) {
	for _, line := range fixtureFlows(t) {
		var want, got Flow
		if err := JSON.Unmarshal(line, &want); err != nil {
			t.Fatal(err)
		}
		if err := Decode(line, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%s):\n got %+v\nwant %+v", line, got, want)
		}
	}
}

// TestDecodeFields: a selection decodes its fields as Decode does, leaves
// the others zero, and still refuses a flow that is not valid JSON.
func TestDecodeFields(t *testing.T) {
	want := Select("UUID", "Network", "Metric", "Tag")
	for _, line := range fixtureFlows(t) {
		var all, some Flow
		Decode(line, &all)
		if err := DecodeFields(line, &some, want); err != nil {
			t.Fatal(err)
		}
		all = Flow{UUID: all.UUID, Network: all.Network, Metric: all.Metric, Tag: all.Tag}
		if !reflect.DeepEqual(some, all) {
			t.Fatalf("DecodeFields(%s):\n got %+v\nwant %+v", line, some, all)
		}
	}
	var f Flow
	for _, in := range []string{`{"UUID":"a","Link":{"A":}}`, `{"UUID":"a","Start":1.}`} {
		if err := DecodeFields([]byte(in), &f, want); err == nil {
			t.Errorf("DecodeFields(%s): no error", in)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Select of an unknown field did not panic")
		}
	}()
	Select("Nope")
}

func TestDecodeErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"Network":{"A":42}}`:              "Network.A: want a string, got number",
		`{"Transport":{"A":"80"}}`:          "Transport.A: want a number, got string",
		`{"Metric":{"ABBytes":1.5}}`:        "Metric.ABBytes: want an integer, got 1.5",
		`{"Start":99999999999999999999}`:    "Start: 99999999999999999999: out of range",
		`{"Link":[]}`:                       "Link: want an object, got array",
		`{"ICMP":{"Code":-1}}`:              "ICMP.Code: -1: out of range",
		`{"UUID":"a"`:                       "unexpected end of JSON input",
		`{"TCPMetric":{"ABSynStart":true}}`: "TCPMetric.ABSynStart: want a number, got bool",
	} {
		var f Flow
		if err := Decode([]byte(in), &f); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want %q", in, err, want)
		}
	}
	var f Flow
	if err := Decode([]byte(`{"Network":null,"UUID":null,"Start":-5,"X":{"y":[1]}}`), &f); err != nil || f.Network != nil || f.Start != -5 {
		t.Errorf("nulls and unknown fields: %+v %v", f, err)
	}
}

// FuzzDecode checks Decode against json-iterator: where both decode a
// line, they agree.
func FuzzDecode(f *testing.F) {
	for _, l := range fixtureFlows(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"Network":{"Protocol":"IPV4","A":"1.1.1.1"},"FinishType":2,"DNS":{"a":1}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var got Flow
		if Decode(line, &got) != nil {
			return
		}
		var want Flow
		if err := jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal(line, &want); err != nil {
			return
		}
		// json-iterator merges a repeated key into what it decoded first,
		// and matches keys whatever their case; Decode does neither.
		if hasRepeatedKeys(line) || hasFoldedKey(line) {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%s):\n got %+v\nwant %+v", line, got, want)
		}
	})
}

// hasRepeatedKeys reports whether a top-level key appears twice.
func hasRepeatedKeys(line []byte) bool {
	seen := map[string]bool{}
	repeated := false
	jsonscan.Members(line, func(m jsonscan.Member) error {
		name, _ := m.Name()
		repeated = repeated || seen[name]
		seen[name] = true
		return nil
	})
	return repeated
}

var keyPattern = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"\s*:`)

// hasFoldedKey reports whether a key matches a field name only when case
// is ignored.
func hasFoldedKey(line []byte) bool {
	var names []string
	for _, typ := range []reflect.Type{reflect.TypeFor[Flow](), reflect.TypeFor[Layer](), reflect.TypeFor[Transport](),
		reflect.TypeFor[ICMP](), reflect.TypeFor[Metric](), reflect.TypeFor[TCPMetric](), reflect.TypeFor[IPMetric]()} {
		for i := range typ.NumField() {
			names = append(names, typ.Field(i).Name)
		}
	}
	for _, m := range keyPattern.FindAllSubmatch(line, -1) {
		key, err := strconv.Unquote(`"` + string(m[1]) + `"`)
		if err != nil {
			return true
		}
		for _, n := range names {
			if key != n && strings.EqualFold(key, n) {
				return true
			}
		}
	}
	return false
}

func BenchmarkDecode(b *testing.B) {
	lines := fixtureFlows(b)
	b.Run("Decode", func(b *testing.B) {
		var f Flow
		for b.Loop() {
			for _, l := range lines {
				Decode(l, &f)
			}
		}
	})
	b.Run("jsoniter", func(b *testing.B) {
		var f Flow
		for b.Loop() {
			for _, l := range lines {
				JSON.Unmarshal(l, &f)
			}
		}
	})
}

// TestSharedEnum: each enum is found, and no string that differs from
// one by a byte, or is longer or shorter by one, is taken for it.
func TestSharedEnum(t *testing.T) {
	if s, ok := sharedEnum(nil); !ok || s != "" {
		t.Errorf(`sharedEnum("") = %q, %v`, s, ok)
	}
	for _, e := range enumList {
		if s, ok := sharedEnum([]byte(e)); !ok || s != e {
			t.Errorf("sharedEnum(%q) = %q, %v", e, s, ok)
		}
		near := []string{e + "x", e[:len(e)-1], "x" + e}
		for i := range len(e) {
			b := []byte(e)
			b[i] ^= 0x20
			near = append(near, string(b))
		}
		for _, n := range near {
			if s, ok := sharedEnum([]byte(n)); ok && s != n {
				t.Errorf("sharedEnum(%q) = %q", n, s)
			}
		}
	}
}

// inOrderCases are metrics, layers and transport layers written as
// Skydive writes them (the first six, an escape in a value too), and near texts that the long way
// must read.
var inOrderCases = []string{
	`{"ABPackets":6,"ABBytes":482,"BAPackets":6,"BABytes":609,"Start":1795731701186,"Last":1795731704475,"RTT":82422}`,
	`{"ABPackets":2,"ABBytes":196,"BAPackets":0,"BABytes":0,"Start":1795731701191,"Last":1795731701393}`,
	`{"ABPackets":-0,"ABBytes":0,"BAPackets":0,"BABytes":0,"Start":0,"Last":0,"RTT":0}`,
	`{"Protocol":"ETHERNET","A":"56:55:07:b6:5c:d6","B":"36:01:52:66:1d:98","ID":0}`,
	`{"Protocol":"TCP","A":54972,"B":8000,"ID":7}`,
	`{"Protocol":"IPV4","A":"10.0.0.\u0031","B":"10.0.0.2","ID":1}`,
	`{"ABPackets":6, "ABBytes":482,"BAPackets":6,"BABytes":609,"Start":1,"Last":2}`,
	`{"ABBytes":482,"ABPackets":6,"BAPackets":6,"BABytes":609,"Start":1,"Last":2}`,
	`{"ABPackets":6,"ABBytes":482,"BAPackets":6,"BABytes":609,"Start":1,"Last":2,"RTT":3,"X":4}`,
	`{"ABPackets":6,"ABBytes":482,"BAPackets":6,"BABytes":609,"Start":1,"Last":2,"RTT":3`,
	`{"ABPackets":6,"ABBytes":4.5,"BAPackets":6,"BABytes":609,"Start":1,"Last":2}`,
	`{"ABPackets":06,"ABBytes":4,"BAPackets":6,"BABytes":609,"Start":1,"Last":2}`,
	`{"ABPackets":1234567890123456789,"ABBytes":4,"BAPackets":6,"BABytes":609,"Start":1,"Last":2}`,
	`{"ABPackets":6,"ABBytes":482,"BAPackets":6,"BABytes":609,"Start":1}`,
	`{"AB\u0050ackets":6,"ABBytes":482,"BAPackets":6,"BABytes":609,"Start":1,"Last":2}`,
	`{"Protocol":"IPV4","A":"10.0.0.1","B":"10.0.0.2"}`,
	`{"Protocol":"IPV4","A":"10.0.0.1","B":"10.0.0.2","ID":1,"X":2}`,
	`{"Protocol":"IPV4","A":1,"B":"10.0.0.2","ID":1}`,
	`{"Protocol":"TCP","A":"54972","B":8000,"ID":0}`,
	`{"Protocol":null,"A":1,"B":2,"ID":0}`,
	`null`, `{}`, ``,
}

// TestReadInOrder: the parts Skydive writes are read in order, and what
// is read in order the long way reads the same, to the same end.
func TestReadInOrder(t *testing.T) {
	for i, c := range inOrderCases {
		if ok := sameInOrder(t, []byte(c)); ok != (i < 6) {
			t.Errorf("readInOrder(%s): ok %v", c, ok)
		}
	}
}

// FuzzReadInOrder: whatever the text, what a part's readInOrder reads the
// long way reads the same, or it reads nothing.
func FuzzReadInOrder(f *testing.F) {
	for _, c := range inOrderCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, d []byte) { sameInOrder(t, d) })
}

// sameInOrder says whether a metric's, a layer's or a transport layer's
// readInOrder read d, and fails t if the long way reads it otherwise.
func sameInOrder(t *testing.T, d []byte) bool {
	t.Helper()
	if len(d) == 0 {
		return false
	}
	read := false
	var m, mSlow Metric
	if end, ok := m.readInOrder(d, 0); ok {
		read = true
		slowEnd, present, err := counters(d, 0, "m", mSlow.field)
		if err != nil || !present || mSlow != m || slowEnd != end {
			t.Errorf("%s: metric in order %+v to %d, the long way %+v to %d, %v", d, m, end, mSlow, slowEnd, err)
		}
	}
	var l Layer
	if end, ok := l.readInOrder(d, 0); ok {
		read = true
		var slow *Layer
		slowEnd, err := new(Layer).read(&slow, d, 0, "l")
		if err != nil || slow == nil || *slow != l || slowEnd != end {
			t.Errorf("%s: layer in order %+v to %d, the long way %+v to %d, %v", d, l, end, slow, slowEnd, err)
		}
	}
	var tr Transport
	if end, ok := tr.readInOrder(d, 0); ok {
		read = true
		var slow *Transport
		slowEnd, err := new(Transport).read(&slow, d, 0)
		if err != nil || slow == nil || *slow != tr || slowEnd != end {
			t.Errorf("%s: transport in order %+v to %d, the long way %+v to %d, %v", d, tr, end, slow, slowEnd, err)
		}
	}
	return read
}
