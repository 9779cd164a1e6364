package filter

import (
	"bytes"
	"io"
	"testing"

	"github.com/skyflows/skyflows/lib/classify"
	"github.com/skyflows/skyflows/lib/flowgen"
)

// classified returns n generated flows tagged by sky-classify.
func classified(tb testing.TB, n int) []byte {
	var gen, out bytes.Buffer
	if err := flowgen.New(1).Write(&gen, n); err != nil {
		tb.Fatal(err)
	}
	if code := classify.Run([]string{"sky-classify", "-q"}, &gen, &out, io.Discard); code != 0 {
		tb.Fatal("classify exit", code)
	}
	return out.Bytes()
}

func benchmarkFilter(b *testing.B, args ...string) {
	in := classified(b, 10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if code := Run(append([]string{"sky-filter", "-q"}, args...), bytes.NewReader(in), io.Discard, io.Discard); code != 0 {
			b.Fatal(code)
		}
	}
}

func BenchmarkFilterTag(b *testing.B) { benchmarkFilter(b, "--exclude-tag", "other") }

func BenchmarkFilterExpr(b *testing.B) {
	benchmarkFilter(b, `Tag != "other" && Transport.Protocol == "TCP" && Metric.ABBytes > 1000`)
}
