package encode

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// detectLimit bounds what is read of a JSON input to tell a record from
// an object's envelope.
const detectLimit = 1 << 20

// objectRecords reads r as NDJSON records, whatever sky-batch object it is: the
// secadvisor and IBM envelopes ({"data": [...]}, {..., "flow_logs": [...]})
// give their records, AWS's text and CSV (a header line of field names)
// a record a line with those names. A Parquet object is an error that
// says so.
func objectRecords(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// What is there already, a byte at least: a live stream is never
	// waited on for more.
	br.Peek(1)
	head, _ := br.Peek(min(br.Buffered(), 64))
	switch {
	case bytes.HasPrefix(head, []byte("PAR1")):
		return nil, errors.New("a Parquet object: sky-encode reads NDJSON records and sky-batch's other objects; query Parquet with a query engine (DuckDB's read_parquet)")
	case bytes.HasPrefix(head, []byte("version ")):
		return pipe(func(w *bufio.Writer) error { return awsText(br, w) }), nil
	case isCSV(head):
		return pipe(func(w *bufio.Writer) error { return csvText(br, w) }), nil
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("{")):
		return envelope(br), nil
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("[")):
		return arrayRecords(br), nil
	}
	return br, nil
}

// pipe runs write in a goroutine of its own and returns what it writes.
func pipe(write func(w *bufio.Writer) error) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		err := write(w)
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// detector keeps what is read through it, up to detectLimit, until told
// to pass it on alone.
type detector struct {
	r    io.Reader
	seen bytes.Buffer
	on   bool
}

func (d *detector) Read(p []byte) (int, error) {
	if !d.on {
		return d.r.Read(p)
	}
	if d.seen.Len() >= detectLimit {
		return 0, io.EOF
	}
	n, err := d.r.Read(p[:min(len(p), detectLimit-d.seen.Len())])
	d.seen.Write(p[:n])
	return n, err
}

// envelope gives the records of a document whose top-level keys lead to
// an array under "data" (secadvisor) or "flow_logs" (IBM), one a line;
// any other JSON input as it is.
func envelope(br *bufio.Reader) io.Reader {
	det := &detector{r: br, on: true}
	d := json.NewDecoder(det)
	key := recordsKey(d)
	if key == "" {
		return io.MultiReader(&det.seen, br) // NDJSON records (or bad input, for the stage to report)
	}
	det.on, det.seen = false, bytes.Buffer{}
	return pipe(func(w *bufio.Writer) error { return elements(d, w, fmt.Sprintf("%q", key)) })
}

// arrayRecords gives the elements of a JSON array (sky-batch --format json),
// one a line.
func arrayRecords(br *bufio.Reader) io.Reader {
	d := json.NewDecoder(br)
	d.Token() // '['
	return pipe(func(w *bufio.Writer) error { return elements(d, w, "array") })
}

// elements writes the values of the array d is in, compacted, one a line.
func elements(d *json.Decoder, w *bufio.Writer, what string) error {
	var line bytes.Buffer
	for d.More() {
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return fmt.Errorf("the object's %s: %w", what, err)
		}
		line.Reset()
		json.Compact(&line, raw)
		line.WriteByte('\n')
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// recordsKey reads the first object's keys until one is "data" or
// "flow_logs" and holds an array, and returns it, the decoder in the
// array; "" for anything else.
func recordsKey(d *json.Decoder) string {
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for d.More() {
		t, err := d.Token()
		key, _ := t.(string)
		if err != nil {
			return ""
		}
		if key == "data" || key == "flow_logs" {
			if t, err := d.Token(); err == nil && t == json.Delim('[') {
				return key
			}
			return ""
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

// awsText turns AWS's flow log text into records: a JSON object a line,
// the header's field names its keys, every value a string as the text
// has it ("-" for none).
func awsText(r *bufio.Reader, w *bufio.Writer) error {
	header, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	fields := strings.Fields(header)
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 2; s.Scan(); n++ {
		values := strings.Fields(s.Text())
		if len(values) == 0 {
			continue
		}
		if len(values) != len(fields) {
			return fmt.Errorf("AWS flow log text, line %d: %d values for %d fields", n, len(values), len(fields))
		}
		writeRecord(w, fields, values)
	}
	return s.Err()
}

// isCSV tells a CSV object (sky-batch's csv and awsflowlogs-csv) by its
// header: field names (letters, digits, "_.:-") and commas, no JSON.
func isCSV(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if bytes.IndexByte(line, ',') <= 0 {
		return false
	}
	for _, c := range line {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.:-,", c) >= 0) {
			return false
		}
	}
	return true
}

// csvText turns CSV with a header line into records, as awsText does.
func csvText(r io.Reader, w *bufio.Writer) error {
	c := csv.NewReader(r)
	c.ReuseRecord = true
	header, err := c.Read()
	if err != nil {
		return fmt.Errorf("CSV: %w", err)
	}
	fields := slices.Clone(header)
	for {
		values, err := c.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("CSV: %w", err)
		}
		writeRecord(w, fields, values)
	}
}

// writeRecord writes a JSON object of fields and their string values.
func writeRecord(w *bufio.Writer, fields, values []string) {
	w.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			w.WriteByte(',')
		}
		key, _ := json.Marshal(fields[i])
		value, _ := json.Marshal(v)
		w.Write(key)
		w.WriteByte(':')
		w.Write(value)
	}
	w.WriteString("}\n")
}
