// Package encode turns a stream of JSON records into one document: NDJSON,
// a JSON array, CSV or the secadvisor envelope. sky-encode and sky-batch
// share these encoders.
package encode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stage"
)

// Encoder writes records into one document.
type Encoder interface {
	// Record adds one record, a whole JSON text; a record that is not valid
	// JSON (or not an object, where the format needs one) is refused with
	// nothing written.
	Record(raw []byte) error
	// Close ends the document.
	Close() error
}

// Background is an encoder that writes to its output on a goroutine of
// its own (the Parquet ones): until Close, the caller must not touch the
// output, and Written says how much went to it.
type Background interface {
	Encoder
	Written() int64
}

// Rows is an encoder that takes records decoded ahead, on other
// goroutines, by its format's Decoder: Add takes what it returned.
type Rows interface {
	Encoder
	Add(row any) error
}

// Decoder decodes a record of a format ahead, on any goroutine, into a
// row for its encoders' Add (Rows), in one pass that hands see, if not
// nil, the top-level members it wants first and leaves out those it
// skips. Its errors are bad input.
type Decoder func(raw []byte, see *jsonscan.See) (row any, err error)

// Decoder is the format's decoder; nil for a format without one.
func (f Format) Decoder() Decoder { return decoders[f.Name] }

var decoders = map[string]Decoder{
	"flows-parquet":      flowsParquet.Decode,
	"secadvisor-parquet": secadvisorParquet.Decode,
	"vpclogs-parquet":    vpclogsParquet.Decode,
}

// Options tune the encoders.
type Options struct {
	// Columns are the dotted paths of the CSV columns; empty means the
	// flattened keys of the first record.
	Columns []string
	// Header holds the user's keys of a vpclogs object, in order.
	Header [][2]string
	// Validated says the records are known to be valid JSON (the caller
	// scanned them): the encoders that only copy them skip their check.
	Validated bool
	// Pretty indents the JSON documents (json, secadvisor) with tabs, as
	// the original exporter's pretty objects were.
	Pretty bool
	// Compression and Level are the Parquet formats' page compression
	// (ParquetCodecs; gzip by default) and its gzip level.
	Compression string
	Level       int
	// Bloom adds a bloom filter on the address columns of Parquet files.
	Bloom bool
}

// Format describes one output format.
type Format struct {
	Name        string
	ContentType string
	New         func(w io.Writer, o Options) Encoder
}

// Formats lists the formats by name.
var Formats = map[string]Format{
	"ndjson":          {"ndjson", "application/x-ndjson", newLines},
	"json":            {"json", "application/json", newArray("[", "]\n", false)},
	"json-pretty":     {"json-pretty", "application/json", newArray("[", "]\n", true)},
	"secadvisor":      {"secadvisor", "application/json", newArray(`{"data":[`, "]}\n", false)},
	"csv":             {"csv", "text/csv", newCSV},
	"awsflowlogs":     {"awsflowlogs", "text/plain", newAWS},
	"awsflowlogs-csv": {"awsflowlogs-csv", "text/csv", newAWSCSV},
	"vpclogs":         {"vpclogs", "application/json", newVPCLogs},

	"parquet":             {"parquet", parquetType, newAnyParquet},
	"awsflowlogs-parquet": {"awsflowlogs-parquet", parquetType, newAWSParquet},
	"vpclogs-parquet":     {"vpclogs-parquet", parquetType, vpclogsParquet.New},
	"secadvisor-parquet":  {"secadvisor-parquet", parquetType, secadvisorParquet.New},
	"flows-parquet":       {"flows-parquet", parquetType, flowsParquet.New},
}

const parquetType = "application/vnd.apache.parquet"

// Names lists the format names, sorted.
func Names() []string {
	var names []string
	for n := range Formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New returns the encoder of the named format writing to w.
func New(format string, w io.Writer, o Options) (Encoder, error) {
	f, ok := Formats[format]
	if !ok {
		return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Names(), ", "))
	}
	return f.New(w, o), nil
}

// lines writes records one per line, as they came.
type lines struct {
	w       io.Writer
	trusted bool
}

func newLines(w io.Writer, o Options) Encoder { return &lines{w: w, trusted: o.Validated} }

func (l *lines) Record(raw []byte) error {
	if err := check(raw, l.trusted); err != nil {
		return err
	}
	if _, err := l.w.Write(raw); err != nil {
		return err
	}
	_, err := l.w.Write(newline)
	return err
}

func (l *lines) Close() error { return nil }

var newline = []byte{'\n'}

// array writes records as the elements of a JSON array between open and close.
type array struct {
	w           io.Writer
	open, close string
	pretty      bool
	indent      string
	trusted     bool
	n           int
	buf         bytes.Buffer
}

// check validates a record unless it is known valid.
func check(raw []byte, trusted bool) error {
	if trusted {
		return nil
	}
	if err := jsonscan.Valid(raw); err != nil {
		return stage.BadInput(fmt.Errorf("decode: %w", err))
	}
	return nil
}

func newArray(open, close string, pretty bool) func(io.Writer, Options) Encoder {
	return func(w io.Writer, o Options) Encoder {
		a := &array{w: w, open: open, close: close, pretty: pretty, indent: "  ", trusted: o.Validated}
		if o.Pretty {
			a.pretty, a.indent = true, "\t"
		}
		return a
	}
}

func (a *array) Record(raw []byte) error {
	if err := check(raw, a.trusted); err != nil {
		return err
	}
	a.buf.Reset()
	switch {
	case a.n == 0:
		a.buf.WriteString(a.open)
	default:
		a.buf.WriteByte(',')
	}
	if a.pretty {
		a.buf.WriteString("\n" + a.indent)
		if err := json.Indent(&a.buf, raw, a.indent, a.indent); err != nil {
			return stage.BadInput(fmt.Errorf("decode: %w", err))
		}
	} else {
		a.buf.Write(bytes.TrimSpace(raw))
	}
	a.n++
	_, err := a.w.Write(a.buf.Bytes())
	return err
}

func (a *array) Close() error {
	end := a.close
	switch {
	case a.n == 0:
		end = a.open + a.close
	case a.pretty:
		end = "\n" + a.close
	}
	_, err := io.WriteString(a.w, end)
	return err
}
