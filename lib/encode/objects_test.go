package encode

import (
	"bytes"
	"io"
	"testing"
)

// FuzzObjectRecords: whatever the input, reading it as sky-batch's
// objects never panics, and an envelope's records come out one a line.
func FuzzObjectRecords(f *testing.F) {
	for _, seed := range []string{
		`{"data":[{"UUID":"a"},{"UUID":"b"}]}`,
		"{\n\t\"data\": [\n\t\t{\"UUID\": \"a\"}\n\t]\n}",
		`{"version":"0.0.1","collector_crn":"c","flow_logs":[{"action":"accepted"}],"state":"ok"}`,
		"version account-id srcaddr\n2 - 10.0.0.1\n2 - 10.0.0.2\n",
		`[{"a":1},{"b":2}]`,
		"{\"UUID\":\"a\"}\n{\"UUID\":\"b\"}\n",
		"PAR1",
		`{"data":[{"UUID":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := objectRecords(bytes.NewReader(data))
		if err != nil {
			return
		}
		out, _ := io.ReadAll(r)
		// Text with a header (AWS's, CSV) repeats its field names in each
		// record; everything else comes out at most twice its size.
		text := bytes.HasPrefix(data, []byte("version ")) || isCSV(data[:min(len(data), 64)])
		if len(out) > 0 && !text && len(out) > 2*len(data)+1 {
			t.Errorf("%d bytes out of %d in", len(out), len(data))
		}
	})
}

// TestObjectRecords: each kind of object gives its records, one a line.
func TestObjectRecords(t *testing.T) {
	for in, want := range map[string]string{
		`{"data":[{"UUID":"a"},{"UUID":"b"}]}`:                          "{\"UUID\":\"a\"}\n{\"UUID\":\"b\"}\n",
		"{\n\t\"data\": [\n\t\t{\"UUID\": \"a\"}\n\t]\n}":               "{\"UUID\":\"a\"}\n",
		`{"version":"0.0.1","flow_logs":[{"action":"accepted"}],"n":1}`: "{\"action\":\"accepted\"}\n",
		"version account-id srcaddr\n2 - 10.0.0.1\n":                    "{\"version\":\"2\",\"account-id\":\"-\",\"srcaddr\":\"10.0.0.1\"}\n",
		`[{"a":1}, {"b":2}]`:                                            "{\"a\":1}\n{\"b\":2}\n",
		"{\"UUID\":\"a\",\"data\":1}\n{\"UUID\":\"b\"}\n":               "{\"UUID\":\"a\",\"data\":1}\n{\"UUID\":\"b\"}\n",
		"not json\n": "not json\n",
		"version,srcaddr,Tag\r\n2,10.0.0.1,\"a,b\"\r\n": "{\"version\":\"2\",\"srcaddr\":\"10.0.0.1\",\"Tag\":\"a,b\"}\n",
		"UUID,Network.A\nu1,10.0.0.1\n":                 "{\"UUID\":\"u1\",\"Network.A\":\"10.0.0.1\"}\n",
		"bad, {\"UUID\":\"a\"}\n{\"UUID\":\"b\"}\n":     "bad, {\"UUID\":\"a\"}\n{\"UUID\":\"b\"}\n",
	} {
		r, err := objectRecords(bytes.NewReader([]byte(in)))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}
