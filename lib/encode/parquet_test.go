package encode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/klauspost/compress/gzip"
	"github.com/parquet-go/parquet-go"

	"github.com/skyflows/skyflows/lib/awsflowlogs"
	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/secadvisor"
	"github.com/skyflows/skyflows/lib/stage"
	"github.com/skyflows/skyflows/lib/vpclogs"
)

// testRecords makes n flows' records of a kind, one JSON text each.
func testRecords(t testing.TB, kind string, n int) [][]byte {
	t.Helper()
	g := flowgen.New(3)
	var out [][]byte
	emit := func(rec any) {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	type transformer interface {
		Flow(*flow.Flow, func(any)) error
	}
	var tr transformer
	switch kind {
	case "secadvisor":
		tr = secadvisor.New(secadvisor.Options{Window: time.Minute, TTL: 10 * time.Minute, EndedTTL: time.Minute})
	case "vpclogs":
		tr = vpclogs.New(vpclogs.Options{RejectTimeout: 5 * time.Second})
	case "awsflowlogs":
		tr = awsflowlogs.New(awsflowlogs.Options{Version: 5, AccountID: "123456789012", Region: "eu-west-1",
			InterfaceID: "-", VpcID: "-", SubnetID: "-", InstanceID: "-", AzID: "-", Action: "ACCEPT"})
	}
	for range n {
		f := g.Flow()
		if tr == nil {
			emit(f)
			continue
		}
		tr.Flow(f, emit)
	}
	return out
}

func writeParquet(t testing.TB, format string, recs [][]byte, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := New(format, &buf, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if err := enc.Record(r); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, r)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// roundTrip: the records of a kind, written as Parquet and read back by
// the library, are the records that went in, value for value.
func roundTrip[T any](t *testing.T, kind string, decode func([]byte, *T) error, extra ...[]byte) {
	recs := append(testRecords(t, kind, 3000), extra...)
	if len(recs) < 1000 {
		t.Fatalf("%d records", len(recs))
	}
	for _, codec := range ParquetCodecs {
		data := writeParquet(t, kind+"-parquet", recs, Options{Compression: codec})
		r := parquet.NewGenericReader[T](bytes.NewReader(data))
		got := make([]T, len(recs)+1)
		n, err := r.Read(got)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if n != len(recs) {
			t.Fatalf("%s: %d rows read, %d written", codec, n, len(recs))
		}
		for i, raw := range recs {
			var want T
			if err := decode(raw, &want); err != nil {
				t.Fatal(err)
			}
			// As JSON: an empty map and none read alike.
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(want)
			if !bytes.Equal(g, w) {
				t.Fatalf("%s: row %d:\n got %s\nwant %s", codec, i, g, w)
			}
		}
	}
}

func TestParquetFlows(t *testing.T) {
	roundTrip(t, "flows", func(raw []byte, f *flow.Flow) error { return flow.DecodeFields(raw, f, flow.AllFields) })
}
func TestParquetSecadvisor(t *testing.T) {
	// Enriched records too: Context, NodeType, Extend, SKIPDATA and NODATA.
	enriched, err := os.ReadFile("../transform/testdata/secadvisor-enrich.golden")
	if err != nil {
		t.Fatal(err)
	}
	extra := append(bytes.Split(bytes.TrimSpace(enriched), []byte("\n")),
		[]byte(`{"Version":"1.1.0","Start":1796003700000,"Last":1796003759999,"UpdateCount":0,"LogStatus":"NODATA","LinkID":7,"Tag":"internal"}`),
		[]byte(`{"UUID":"0daebfc496f37dcd","Version":"1.1.0","Network":{"Protocol":"IPV4","A":"10.0.0.1","B":"10.0.0.2"},"Start":1796003700000,"Last":1796003700000,"UpdateCount":0,"LogStatus":"SKIPDATA","Tag":"internal"}`))
	all := bytes.Join(append(testRecords(t, "secadvisor", 3000), extra...), nil)
	for _, want := range []string{`"LogStatus":"NODATA"`, `"LogStatus":"SKIPDATA"`, `"Context":`, `"Extend":`, `"FinishType":"SYN_RST"`} {
		if !bytes.Contains(all, []byte(want)) {
			t.Fatalf("no record has %s", want)
		}
	}
	roundTrip(t, "secadvisor", decodeJSON[secadvisor.Record], extra...)
}
func TestParquetVPCLogs(t *testing.T) { roundTrip(t, "vpclogs", decodeJSON[vpclogs.Record]) }

// decodeJSON decodes a record by reflection, field names matched as
// written: what the round trips hold the Parquet rows to.
func decodeJSON[T any](raw []byte, v *T) error {
	return jsoniter.Config{CaseSensitive: true}.Froze().Unmarshal(raw, v)
}

// TestParquetAWS: AWS records come back with AWS's Parquet column names
// and types, '-' as null.
func TestParquetAWS(t *testing.T) {
	recs := testRecords(t, "awsflowlogs", 3000)
	data := writeParquet(t, "awsflowlogs-parquet", recs, Options{})
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	schema := f.Schema()
	for name, kind := range map[string]parquet.Kind{"version": parquet.Int32, "srcport": parquet.Int32, "protocol": parquet.Int32,
		"packets": parquet.Int64, "bytes": parquet.Int64, "start": parquet.Int64, "end": parquet.Int64, "tcp_flags": parquet.Int32,
		"srcaddr": parquet.ByteArray, "log_status": parquet.ByteArray, "flow_direction": parquet.ByteArray, "traffic_path": parquet.Int32} {
		col, ok := schema.Lookup(name)
		if !ok || col.Node.Type().Kind() != kind || !col.Node.Optional() {
			t.Errorf("column %s: %v %v", name, ok, col.Node)
		}
	}
	if len(schema.Columns()) != 29 {
		t.Errorf("%d columns, want v5's 29", len(schema.Columns()))
	}
	rows := parquet.NewGenericReader[map[string]any](bytes.NewReader(data), schema)
	got := make([]map[string]any, len(recs)+1)
	for i := range got {
		got[i] = map[string]any{}
	}
	n, err := rows.Read(got)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Fatalf("%d rows, %d records", n, len(recs))
	}
	for i, raw := range recs {
		var want map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		dec.Decode(&want)
		delete(want, "Tag")
		for field, v := range want {
			col := strings.ReplaceAll(field, "-", "_")
			g := got[i][col]
			switch v := v.(type) {
			case json.Number:
				n, _ := strconv.ParseInt(string(v), 10, 64)
				if toInt(g) != n {
					t.Fatalf("row %d %s: got %v, want %v", i, col, g, v)
				}
			case string:
				if _, integer := awsTypes[field]; integer && v == "-" {
					if g != nil {
						t.Fatalf("row %d %s: got %v, want null", i, col, g)
					}
				} else if g != v {
					t.Fatalf("row %d %s: got %v (%T), want %q", i, col, g, g, v)
				}
			}
		}
	}
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int32:
		return int64(v)
	case int64:
		return v
	}
	return -1
}

// TestParquetAny: --format parquet writes each kind as its own format
// does, told by the first record.
func TestParquetAny(t *testing.T) {
	for _, kind := range []string{"flows", "secadvisor", "vpclogs", "awsflowlogs"} {
		recs := testRecords(t, kind, 500)
		own := writeParquet(t, kind+"-parquet", recs, Options{})
		got := writeParquet(t, "parquet", recs, Options{})
		if !bytes.Equal(got, own) {
			t.Errorf("%s: --format parquet wrote %d bytes, %s-parquet %d", kind, len(got), kind, len(own))
		}
	}
	enc, _ := New("parquet", io.Discard, Options{})
	if err := enc.Record([]byte(`{"a":1}`)); !stage.IsBadInput(err) {
		t.Errorf("an unknown record: %v", err)
	}
}

// TestParquetRefused: a record of another shape is refused, nothing of
// it written, and the file stays readable.
func TestParquetRefused(t *testing.T) {
	recs := testRecords(t, "awsflowlogs", 200)
	var buf bytes.Buffer
	enc, _ := New("awsflowlogs-parquet", &buf, Options{})
	first := bytes.Replace(recs[0], []byte(`"version":5`), []byte(`"version":"x"`), 1)
	for _, bad := range [][]byte{first, []byte(`{"version":2}`), []byte(`{"nope":1}`), []byte(`not json`)} {
		if err := enc.Record(bad); !stage.IsBadInput(err) {
			t.Errorf("%s: taken as first record, or not bad input: %v", bad, err)
		}
	}
	for _, r := range recs {
		if err := enc.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range [][]byte{[]byte(`{"version":2}`), recs[0][:len(recs[0])-1], bytes.Replace(recs[0], []byte(`"packets":`), []byte(`"packets":"many","x":`), 1)} {
		if err := enc.Record(bad); !stage.IsBadInput(err) {
			t.Errorf("%s: taken, or not bad input: %v", bad, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || f.NumRows() != int64(len(recs)) {
		t.Fatalf("%v, %d rows", err, f.NumRows())
	}
	var buf2 bytes.Buffer
	enc, _ = New("vpclogs-parquet", &buf2, Options{})
	if err := enc.Record([]byte(`{"initiator_port":"x"}`)); !stage.IsBadInput(err) {
		t.Error("a string port taken")
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if f, err := parquet.OpenFile(bytes.NewReader(buf2.Bytes()), int64(buf2.Len())); err != nil || f.NumRows() != 0 {
		t.Fatalf("empty file: %v", err)
	}
}

// BenchmarkParquet writes generated flows and each kind of record.
func BenchmarkParquet(b *testing.B) {
	var in bytes.Buffer
	flowgen.New(1).Write(&in, 20000)
	lines := bytes.Split(bytes.TrimSpace(in.Bytes()), []byte("\n"))
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		enc, _ := New("flows-parquet", io.Discard, Options{})
		for _, l := range lines {
			if err := enc.Record(l); err != nil {
				b.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// parquetKinds are the record kinds, each with its text format and its
// Parquet format.
var parquetKinds = []struct{ kind, text, parquet string }{
	{"flows", "ndjson", "flows-parquet"},
	{"secadvisor", "secadvisor", "secadvisor-parquet"},
	{"awsflowlogs", "awsflowlogs", "awsflowlogs-parquet"},
	{"vpclogs", "vpclogs", "vpclogs-parquet"},
}

// TestParquetSmaller: for every kind of record, the Parquet file of a
// fixed generated set is at least 20% smaller than the gzip -6 text of the
// same records, as sky-batch writes both.
func TestParquetSmaller(t *testing.T) {
	for _, k := range parquetKinds {
		recs := testRecords(t, k.kind, 50000)
		var text bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&text, 6)
		enc, err := New(k.text, zw, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := enc.Record(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		pq := writeParquet(t, k.parquet, recs, Options{})
		share := float64(len(pq)) / float64(text.Len())
		t.Logf("%s: %d records, gzip text %d bytes, Parquet %d (%.1f%%)", k.kind, len(recs), text.Len(), len(pq), 100*share)
		if share > 0.8 {
			t.Errorf("%s: Parquet is %.1f%% of the gzip text, want 80%% at most", k.kind, 100*share)
		}
	}
}

// TestParquetColumnMetadata: every column chunk of every kind says its
// encodings and has statistics (min, max, null count); addresses are
// dictionary encoded, times delta encoded; with Bloom, the address
// columns have a bloom filter, and only with it.
func TestParquetColumnMetadata(t *testing.T) {
	addresses := map[string]bool{"Network.A": true, "Network.B": true, "srcaddr": true, "dstaddr": true,
		"pkt_srcaddr": true, "pkt_dstaddr": true, "initiator_ip": true, "target_ip": true}
	times := map[string]bool{"Start": true, "Last": true, "start": true, "end": true}
	// A flow's ids are unique to it: a dictionary only costs time and
	// room (without one, the recorded flows' objects are 10% smaller and
	// sky-batch writes the generated flows 13% faster).
	ids := map[string]bool{"UUID": true, "TrackingID": true, "L3TrackingID": true}
	for _, k := range parquetKinds {
		recs := testRecords(t, k.kind, 20000)
		for _, bloom := range []bool{false, true} {
			data := writeParquet(t, k.parquet, recs, Options{Bloom: bloom})
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for g, rg := range f.Metadata().RowGroups {
				for _, cc := range rg.Columns {
					md := cc.MetaData
					path := strings.Join(md.PathInSchema, ".")
					where := fmt.Sprintf("%s row group %d column %s", k.parquet, g, path)
					encodings := fmt.Sprint(md.Encoding)
					st := md.Statistics
					if len(md.Encoding) == 0 || md.NumValues > st.NullCount && (st.MinValue == nil || st.MaxValue == nil) {
						t.Fatalf("%s: encodings %s, statistics %+v", where, encodings, st)
					}
					if addresses[path] {
						seen[path] = true
						if !strings.Contains(encodings, "RLE_DICTIONARY") {
							t.Errorf("%s: encodings %s, want a dictionary", where, encodings)
						}
						if (md.BloomFilterOffset != 0) != bloom {
							t.Errorf("%s: bloom filter at %d with Bloom %v", where, md.BloomFilterOffset, bloom)
						}
					} else if md.BloomFilterOffset != 0 {
						t.Errorf("%s: a bloom filter on a column of no addresses", where)
					}
					if ids[path] && (strings.Contains(encodings, "DICTIONARY") || md.DictionaryPageOffset != 0) {
						t.Errorf("%s: encodings %s, want no dictionary for ids unique to a flow", where, encodings)
					}
					if times[path] && !strings.Contains(encodings, "DELTA_BINARY_PACKED") {
						t.Errorf("%s: encodings %s, want DELTA_BINARY_PACKED", where, encodings)
					}
				}
			}
			if len(seen) < 2 {
				t.Errorf("%s: address columns %v", k.parquet, seen)
			}
		}
	}
}

// fullDisk takes room bytes, then fails as a full disk does.
type fullDisk struct{ room int }

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) > d.room {
		n := d.room
		d.room = 0
		return n, syscall.ENOSPC
	}
	d.room -= len(p)
	return len(p), nil
}

// TestParquetWriteError: the output failing while rows are written (on
// the writer's goroutine) stops the encoder with that error, by the end
// of the file at the latest, and every record after it is refused.
func TestParquetWriteError(t *testing.T) {
	for _, k := range parquetKinds {
		enc, err := New(k.parquet, &fullDisk{room: 1000}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var failed error
		for _, r := range testRecords(t, k.kind, 20000) {
			if failed = enc.Record(r); failed != nil {
				break
			}
		}
		if failed == nil {
			failed = enc.Close()
		} else if err := enc.Record(testRecords(t, k.kind, 1)[0]); !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("%s: a record after the error: %v", k.kind, err)
		}
		if !errors.Is(failed, syscall.ENOSPC) {
			t.Errorf("%s: %v, want no space left", k.kind, failed)
		}
	}
}

// TestParquetDropped: an encoder dropped without Close (an object
// abandoned or discarded) leaves no goroutine once its writes end.
func TestParquetDropped(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, k := range parquetKinds {
		enc, err := New(k.parquet, io.Discard, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range testRecords(t, k.kind, 5*rowBatch) {
			if err := enc.Record(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left behind", runtime.NumGoroutine()-before)
		}
		runtime.Gosched()
	}
}
