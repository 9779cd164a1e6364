package vpclogs

import (
	"strings"
	"testing"

	"github.com/skyflows/skyflows/lib/decodetest"
)

// TestDecode: sky-transform's records, of generated flows (classified)
// and of recorded ones, decode as by reflection.
func TestDecode(t *testing.T) {
	decodetest.Same(t, Decode, append(decodetest.Records(t),
		[]byte(`{"T\u0061g":"x","direction":null,"was_initiated":null,"transport_protocol":null,"other":[1,{"a":2}]}`))...)
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
	decodetest.Fuzz(f, Decode, nil, []byte(`{"was_terminated":true,"transport_protocol":17,"Tag":null}`))
}

func BenchmarkDecode(b *testing.B) { decodetest.Bench(b, Decode) }
