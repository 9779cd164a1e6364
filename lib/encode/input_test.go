package encode

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/skyflows/skyflows/lib/flowgen"
)

// TestCompressedInput: gzip and zstd input reads as the records it holds;
// a stream that only starts like one is an error, not records.
func TestCompressedInput(t *testing.T) {
	var plain bytes.Buffer
	if err := flowgen.New(7).Write(&plain, 2000); err != nil {
		t.Fatal(err)
	}
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain.Bytes())
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain.Bytes())
	zw.Close()
	encode := func(in []byte) (string, string, int) {
		var out, errw bytes.Buffer
		code := Run([]string{"sky-encode", "-f", "ndjson"}, bytes.NewReader(in), &out, &errw)
		return out.String(), errw.String(), code
	}
	want, _, _ := encode(plain.Bytes())
	for name, in := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		got, errs, code := encode(in)
		if code != 0 || got != want {
			t.Errorf("%s: exit %d, %d bytes out of %d: %s", name, code, len(got), len(want), errs)
		}
	}
	for name, in := range map[string][]byte{"gzip": gz.Bytes()[:100], "zstd": zs.Bytes()[:100]} {
		_, errs, code := encode(in)
		if code != 1 || !strings.Contains(errs, "sky-encode: read: "+name+" input: unexpected EOF") {
			t.Errorf("%s cut short: exit %d: %s", name, code, errs)
		}
	}
}
