// Package stagetest is what the stages' benchmarks share: generated
// flows, and a stage's Run over them.
package stagetest

import (
	"bytes"
	"io"
	"testing"

	"github.com/skyflows/skyflows/lib/flowgen"
)

// Flows are n generated flows (seed 1), a line each.
func Flows(tb testing.TB, n int) []byte {
	var buf bytes.Buffer
	if err := flowgen.New(1).Write(&buf, n); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Bench runs a stage's Run with args on in, once an iteration, its output
// discarded; a non-zero exit fails b.
func Bench(b *testing.B, in []byte, run func(args []string, in io.Reader, out, errw io.Writer) int, args ...string) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if code := run(args, bytes.NewReader(in), io.Discard, io.Discard); code != 0 {
			b.Fatalf("%v: exit %d", args, code)
		}
	}
}
