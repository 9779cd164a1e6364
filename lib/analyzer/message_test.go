package analyzer

import (
	"bytes"
	"testing"

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
