package classify

import (
	"bytes"
	"io"
	"testing"

	"github.com/skyflows/skyflows/lib/flowgen"
)

func BenchmarkClassify(b *testing.B) {
	var in bytes.Buffer
	if err := flowgen.New(1).Write(&in, 10000); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(in.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if code := Run([]string{"sky-classify", "-q"}, bytes.NewReader(in.Bytes()), io.Discard, io.Discard); code != 0 {
			b.Fatal(code)
		}
	}
}
