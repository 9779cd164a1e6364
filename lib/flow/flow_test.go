package flow

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	jsoniter "github.com/json-iterator/go"
)

// TestRoundTrip decodes every flow recorded from a real analyzer and checks
// that encoding it again gives the same bytes: the types match the schema.
func TestRoundTrip(t *testing.T) {
	f, err := os.Open("../../testdata/analyzer/frames-flow.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var m Message
		if err := JSON.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		var raws []jsoniter.RawMessage
		if err := JSON.Unmarshal(m.Obj, &raws); err != nil {
			t.Fatal(err)
		}
		for _, raw := range raws {
			var fl Flow
			if err := JSON.Unmarshal(raw, &fl); err != nil {
				t.Fatal(err)
			}
			out, err := JSON.Marshal(&fl)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, raw) {
				t.Errorf("flow %s:\n got %s\nwant %s", fl.UUID, out, raw)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d flows in the fixture", n)
	}
}
