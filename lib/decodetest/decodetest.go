// Package decodetest is what the tests of the one-pass record decoders
// (secadvisor, vpclogs) share: their records, and the check that a
// decoder reads a record as reflection did before it (jsoniter, field
// names matched as written).
package decodetest

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	jsoniter "github.com/json-iterator/go"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Decoder decodes a record of type T in one pass.
type Decoder[T any] func(data []byte, r *T, see *jsonscan.See) error

var reference = jsoniter.Config{CaseSensitive: true}.Froze()

// Records reads the records of testdata/records.ndjson, a line each.
func Records(tb testing.TB) [][]byte {
	data, err := os.ReadFile("testdata/records.ndjson")
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

// Same fails tb unless decode reads each line, as reflection does.
func Same[T any](tb testing.TB, decode Decoder[T], lines ...[]byte) {
	tb.Helper()
	for _, line := range lines {
		var got, want T
		if err := decode(line, &got, nil); err != nil {
			tb.Fatalf("Decode(%s): %v", line, err)
		}
		if err := reference.Unmarshal(line, &want); err != nil {
			tb.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			tb.Fatalf("Decode(%s):\n got %+v\nwant %+v", line, got, want)
		}
	}
}

// Fuzz checks decode against reflection: where both decode a line they
// agree, but for the lines that differ says reflection cannot be
// compared on (nil: none).
func Fuzz[T any](f *testing.F, decode Decoder[T], differ func(line []byte) bool, seeds ...[]byte) {
	for _, l := range append(Records(f), seeds...) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var got, want T
		if decode(line, &got, nil) != nil || reference.Unmarshal(line, &want) != nil || (differ != nil && differ(line)) {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%s):\n got %+v\nwant %+v", line, got, want)
		}
	})
}

// Bench times decode over the records.
func Bench[T any](b *testing.B, decode Decoder[T]) {
	lines := Records(b)
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	b.SetBytes(n)
	for b.Loop() {
		for _, l := range lines {
			var r T
			if err := decode(l, &r, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
