package encode

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stagetest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

func TestFormats(t *testing.T) {
	in, err := os.ReadFile("testdata/records.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"ndjson":      {"--format", "ndjson"},
		"json":        {"--format", "json"},
		"json-pretty": {"--format", "json-pretty"},
		"secadvisor":  {"--format", "secadvisor"},
		"csv":         {"--format", "csv"},
		"csv-columns": {"--format", "csv", "--columns", "Tag,Network.A,Metric.ABBytes,Extra.deep.x,Ports,Missing"},
	}
	for name, args := range cases {
		var out, errw bytes.Buffer
		if code := Run(append([]string{"sky-encode", "-q"}, args...), bytes.NewReader(in), &out, &errw); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errw.String())
		}
		golden(t, name, out.Bytes())
	}
}

func TestEmpty(t *testing.T) {
	for format, want := range map[string]string{
		"ndjson": "", "json": "[]\n", "json-pretty": "[]\n", "secadvisor": "{\"data\":[]}\n", "csv": "",
	} {
		var out bytes.Buffer
		if code := Run([]string{"sky-encode", "-q", "-f", format}, strings.NewReader(""), &out, &out); code != 0 || out.String() != want {
			t.Errorf("%s of nothing: exit %d, %q, want %q", format, code, out.String(), want)
		}
	}
}

func TestBadRecords(t *testing.T) {
	in := "{\"a\":1}\n{\"a\":\n[1]\n{\"a\":2}\n"
	for format, want := range map[string]string{
		"json": "[{\"a\":1},[1],{\"a\":2}]\n",
		"csv":  "a\n1\n2\n",
	} {
		var out, errw bytes.Buffer
		Run([]string{"sky-encode", "-f", format}, strings.NewReader(in), &out, &errw)
		if out.String() != want {
			t.Errorf("%s: got %q, want %q", format, out.String(), want)
		}
		if !strings.Contains(errw.String(), "sky-encode: line 2: decode: unexpected end of JSON input") {
			t.Errorf("%s: stderr %s", format, errw.String())
		}
	}
	var out, errw bytes.Buffer
	if code := Run([]string{"sky-encode", "-f", "yaml"}, strings.NewReader(""), &out, &errw); code != 2 {
		t.Errorf("unknown format: exit %d", code)
	}
}

// TestValidated checks that Options.Validated spares the copying encoders
// their own scan (sky-batch has validated every record already) and that
// without it they refuse a broken record.
func TestValidated(t *testing.T) {
	broken := []byte(`{"a":`)
	for _, name := range []string{"ndjson", "json", "json-pretty", "secadvisor"} {
		for _, validated := range []bool{false, true} {
			enc, _ := New(name, io.Discard, Options{Validated: validated})
			err := enc.Record(broken)
			if name == "json-pretty" {
				validated = false // indenting parses the record anyway
			}
			if (err == nil) != validated {
				t.Errorf("%s, Validated %v: error %v", name, validated, err)
			}
		}
	}
}

// FuzzEncode checks that every format either takes a record or refuses it
// whole, and that the JSON documents stay valid.
func FuzzEncode(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,"x"]},"c":"q\"uote"}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		for _, name := range Names() {
			var buf bytes.Buffer
			enc, _ := New(name, &buf, Options{})
			err := enc.Record(rec)
			if err != nil && buf.Len() > 0 && name != "csv" {
				t.Fatalf("%s: wrote %q for a refused record", name, buf.Bytes())
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if name == "json" || name == "json-pretty" || name == "secadvisor" {
				if verr := jsonValid(buf.Bytes()); verr != nil {
					t.Fatalf("%s: invalid document %q: %v", name, buf.Bytes(), verr)
				}
			}
		}
	})
}

func jsonValid(b []byte) error { return jsonscan.Valid(b) }

func BenchmarkEncode(b *testing.B) {
	in := stagetest.Flows(b, 10000)
	for _, format := range []string{"ndjson", "secadvisor", "csv"} {
		b.Run(format, func(b *testing.B) { stagetest.Bench(b, in, Run, "sky-encode", "-q", "-f", format) })
	}
}

// TestPretty: --pretty indents secadvisor documents with tabs, as the
// original exporter's pretty objects were.
func TestPretty(t *testing.T) {
	var out, errw bytes.Buffer
	Run([]string{"sky-encode", "-q", "-f", "secadvisor", "--pretty"}, strings.NewReader("{\"a\":1,\"b\":{\"c\":2}}\n{\"a\":2}\n"), &out, &errw)
	want := "{\"data\":[\n\t{\n\t\t\"a\": 1,\n\t\t\"b\": {\n\t\t\t\"c\": 2\n\t\t}\n\t},\n\t{\n\t\t\"a\": 2\n\t}\n]}\n"
	if out.String() != want {
		t.Errorf("got %q, want %q (%s)", out.String(), want, errw.String())
	}
}
