package secadvisor

import (
	"reflect"
	"strings"
	"testing"

	"github.com/skyflows/skyflows/lib/decodetest"
	"github.com/skyflows/skyflows/lib/jsonscan"
)

// TestDecode: every record of sky-transform's golden files, enriched
// ones too, decodes as by reflection.
func TestDecode(t *testing.T) { decodetest.Same(t, Decode, decodetest.Records(t)...) }

// TestDecodeEscapedKeys: a key written with escapes is the field it
// spells, at the top and in a layer.
func TestDecodeEscapedKeys(t *testing.T) {
	var r Record
	if err := Decode([]byte(`{"U\u0055ID":"x","Network":{"\u0041":"10.0.0.1"}}`), &r, nil); err != nil || r.UUID != "x" || r.Network == nil || r.Network.A != "10.0.0.1" {
		t.Fatalf("%+v %+v: %v", r, r.Network, err)
	}
}

// TestDecodeErrors: a value of another type is an error that names the
// field; bad JSON is an error.
func TestDecodeErrors(t *testing.T) {
	for line, want := range map[string]string{
		`{"UUID":1}`:                         "UUID: want a string, got number",
		`{"Start":"x"}`:                      "Start: want a number, got string",
		`{"Network":{"A":2}}`:                "Network.A: want a string, got number",
		`{"Transport":[]}`:                   "Transport: want an object, got array",
		`{"Metric":{"ABBytes":"1"}}`:         "Metric.ABBytes: want a number, got string",
		`{"Extend":{"a":1}}`:                 "Extend:",
		`{"LinkID":1.5}`:                     "LinkID: want an integer",
		`{"UUID":"a"`:                        "unexpected end",
		`{"UUID":"a"} x`:                     "after top-level value",
		`{"Context":{"A":{"Type":3}}}`:       "Context:",
		`{"Network":{"Protocol":"IPV4"}},{}`: "after top-level value",
	} {
		var r Record
		err := Decode([]byte(line), &r, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s): %v, want an error with %q", line, err, want)
		}
	}
}

// FuzzDecode checks Decode against reflection: where both decode a line,
// they agree; reflection merges a repeated key into what it decoded
// first.
func FuzzDecode(f *testing.F) {
	decodetest.Fuzz(f, Decode, repeatedKeys, []byte(`{"Network":{"Protocol":"IPV4","A":"1.1.1.1"},"LinkID":null,"Extend":{"a":"b"}}`))
}

// repeatedKeys reports whether an object of d, at any depth, has a key
// twice.
func repeatedKeys(d []byte) bool {
	seen := map[string]bool{}
	found := false
	jsonscan.Members(d, func(m jsonscan.Member) error {
		name, _ := m.Name()
		found = found || seen[name] || (m.Kind == jsonscan.Object && repeatedKeys(d[m.Start:m.End]))
		seen[name] = true
		return nil
	})
	return found
}

func BenchmarkDecode(b *testing.B) { decodetest.Bench(b, Decode) }

// TestReadInOrder: a record as AppendJSON writes it is read in order,
// as the long way reads it.
func TestReadInOrder(t *testing.T) {
	for _, line := range decodetest.Records(t) {
		var want Record
		if err := Decode(line, &want, nil); err != nil {
			t.Fatal(err)
		}
		written := want.AppendJSON(nil)
		var fast, slow Record
		if !fast.readInOrder(written, nil) {
			t.Fatalf("%s: not read in order", written)
		}
		if err := slow.read(written, nil); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s:\nin order %+v\nlong way %+v", written, fast, slow)
		}
	}
}
