package vpclogs

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	jsoniter "github.com/json-iterator/go"
)

// reference decodes as sky-batch did before Decode: by reflection,
// field names matched as written.
var reference = jsoniter.Config{CaseSensitive: true}.Froze()

func records(tb testing.TB) [][]byte {
	data, err := os.ReadFile("testdata/records.ndjson")
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

// TestDecode: sky-transform's records, of generated flows (classified)
// and of recorded ones, decode as by reflection.
func TestDecode(t *testing.T) {
	for _, line := range append(records(t), []byte(`{"T\u0061g":"x","direction":null,"was_initiated":null,"transport_protocol":null,"other":[1,{"a":2}]}`)) {
		var got, want Record
		if err := Decode(line, &got, nil); err != nil {
			t.Fatalf("Decode(%s): %v", line, err)
		}
		if err := reference.Unmarshal(line, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%s):\n got %+v\nwant %+v", line, got, want)
		}
	}
}

// TestDecodeErrors: a value of another type is an error that names the
// field; bad JSON is an error.
func TestDecodeErrors(t *testing.T) {
	for line, want := range map[string]string{
		`{"initiator_ip":1}`:            "initiator_ip: want a string, got number",
		`{"target_port":"80"}`:          "target_port: want a number, got string",
		`{"transport_protocol":6.5}`:    "transport_protocol: want an integer",
		`{"was_initiated":"yes"}`:       "was_initiated: want a boolean, got string",
		`{"action":"accepted"`:          "unexpected end",
		`{"action":"accepted"} x`:       "after top-level value",
		`[{"action":"accepted"}]`:       "looking for beginning of object",
		`{"bytes_from_target":1e400}`:   "bytes_from_target",
		`{"start_time":"a","Tag":"b",}`: "invalid character",
	} {
		var r Record
		err := Decode([]byte(line), &r, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s): %v, want an error with %q", line, err, want)
		}
	}
}

// FuzzDecode checks Decode against reflection: where both decode a line,
// they agree.
func FuzzDecode(f *testing.F) {
	for _, l := range records(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"was_terminated":true,"transport_protocol":17,"Tag":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var got Record
		if Decode(line, &got, nil) != nil {
			return
		}
		var want Record
		if reference.Unmarshal(line, &want) != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%s):\n got %+v\nwant %+v", line, got, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	lines := records(b)
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	b.SetBytes(n)
	for b.Loop() {
		for _, l := range lines {
			var r Record
			if err := Decode(l, &r, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
