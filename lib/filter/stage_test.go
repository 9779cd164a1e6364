package filter

import (
	"bytes"
	"io"
	"testing"

	"github.com/skyflows/skyflows/lib/classify"
	"github.com/skyflows/skyflows/lib/stagetest"
)

// classified returns n generated flows tagged by sky-classify.
func classified(tb testing.TB, n int) []byte {
	var out bytes.Buffer
	if code := classify.Run([]string{"sky-classify", "-q"}, bytes.NewReader(stagetest.Flows(tb, n)), &out, io.Discard); code != 0 {
		tb.Fatal("classify exit", code)
	}
	return out.Bytes()
}

func benchmarkFilter(b *testing.B, args ...string) {
	stagetest.Bench(b, classified(b, 10000), Run, append([]string{"sky-filter", "-q"}, args...)...)
}

func BenchmarkFilterTag(b *testing.B) { benchmarkFilter(b, "--exclude-tag", "other") }

func BenchmarkFilterExpr(b *testing.B) {
	benchmarkFilter(b, `Tag != "other" && Transport.Protocol == "TCP" && Metric.ABBytes > 1000`)
}
