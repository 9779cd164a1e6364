package encode

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	pgzip "github.com/parquet-go/parquet-go/compress/gzip"
	pzstd "github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/skyflows/skyflows/lib/awsflowlogs"
	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/secadvisor"
	"github.com/skyflows/skyflows/lib/stage"
	"github.com/skyflows/skyflows/lib/vpclogs"
)

// The Parquet formats write one Parquet file of one kind of record:
// typed columns (integers as integers, addresses as strings), nested
// layers as nested columns. Rows go out a row group at a time, so that
// memory is bounded by the row group, not by the file.
const (
	// rowGroupBytes bounds the data a row group holds before it is
	// written (parquet-go's estimate of it, uncompressed): larger groups
	// share each column's dictionary over more rows, and hold more memory.
	// sky-batch writing 1 000 000 records in one object, one core: 51 MiB
	// resident for flows, secadvisor and AWS records at 4 MiB; AWS
	// records (30 short columns, their estimate high) need 8 MiB to be 20%
	// smaller than their gzip text, at 59 MiB.
	rowGroupBytes    = 4 << 20
	awsRowGroupBytes = 8 << 20
	maxGroupRows     = 1 << 17
	// writeDepth are the batches that may wait for the writer: 1, 2 and 4
	// ran within 2% of each other on two cores (secadvisor records); each
	// more holds another batch (raw flows: about 1 MiB).
	writeDepth = 2
	// rowBatch are the rows handed to the writer at once: the fewer
	// hand-offs, the more the writer's goroutine overlaps the caller's on
	// two cores (secadvisor records: 1 024 rows 7% faster than 256), but
	// AWS's rows, a value a column, take more memory (1 024: 67 MiB).
	rowBatch    = 1024
	awsRowBatch = 256
	// dictionaryBytes bounds a column chunk's dictionary.
	dictionaryBytes = 256 << 10
	// bloomBits are the bits of a bloom filter for each distinct value.
	bloomBits = 10
)

// ParquetCodecs are the page compressions: gzip by default, as AWS's.
var ParquetCodecs = []string{"gzip", "snappy", "zstd", "none"}

// IsParquet reports whether a format writes Parquet.
func IsParquet(format string) bool {
	return format == "parquet" || strings.HasSuffix(format, "-parquet")
}

// writerOptions are the options of a Parquet writer: the page compression
// of o, the encodings, the row group's size, this program as the writer,
// and with o.Bloom a bloom filter on each column of addresses (paths).
//
// A column's encoding follows what it holds (measured on generated flows,
// a cluster's skewed traffic): strings (addresses, account and interface
// ids, names, actions) and 32-bit integers (protocols, versions, flags)
// repeat, so a dictionary
// (plain again for a column chunk whose dictionary outgrows
// dictionaryBytes); 64-bit integers are times and counters, whose
// deltas are small (DELTA_BINARY_PACKED). Client ports are nearly unique:
// the AWS ports are plain (files 5% smaller than with a dictionary), and
// so are a flow's own ids (their parquet tags in lib/flow, secadvisor).
func writerOptions(o Options, addresses ...[]string) ([]parquet.WriterOption, error) {
	var codec compress.Codec
	switch o.Compression {
	case "", "gzip":
		level := o.Level
		if level == 0 {
			level = 6
		}
		codec = &pgzip.Codec{Level: level}
	case "snappy":
		codec = &parquet.Snappy
	case "zstd":
		codec = &pzstd.Codec{Level: pzstd.SpeedFastest, Concurrency: 1}
	case "none":
		codec = &parquet.Uncompressed
	default:
		return nil, fmt.Errorf("parquet page compression %q: want one of %s", o.Compression, strings.Join(ParquetCodecs, ", "))
	}
	options := []parquet.WriterOption{parquet.Compression(codec), parquet.MaxRowsPerRowGroup(maxGroupRows),
		parquet.CreatedBy("skyflows", "", ""),
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.RLEDictionary),
		parquet.DefaultEncodingFor(parquet.Int32, &parquet.RLEDictionary),
		parquet.DefaultEncodingFor(parquet.Int64, &parquet.DeltaBinaryPacked),
		parquet.DictionaryMaxBytes(dictionaryBytes),
	}
	if o.Bloom {
		var filters []parquet.BloomFilterColumn
		for _, path := range addresses {
			filters = append(filters, parquet.SplitBlockFilter(bloomBits, path...))
		}
		options = append(options, parquet.BloomFilters(filters...))
	}
	return options, nil
}

// structParquet writes records that decode into T, a struct whose
// parquet tags give the schema.
type structParquet[T any] struct {
	sink
	o     Options
	w     *parquet.GenericWriter[T]
	rows  []T      // decoded, for the next write
	spare chan []T // batches written
	f     structFormat[T]
}

// sink is what the Parquet encoders share: the error that stopped one,
// the size of their row groups, the size of the file when its last row
// group ended, and the writes of rows.
//
// Each batch of decoded rows is written (encoded, compressed, a row
// group ended to the output) on a goroutine of its own, once the batch
// before it is written, while the caller decodes the next ones: with two
// cores the two overlap, and up to writeDepth batches wait while the
// writer ends a row group. A write's goroutine ends with it, so that an
// object dropped without Close leaves none behind. The caller touches
// the output again only once the writes have ended (Close); meanwhile
// Written tells it how much went out.
type sink struct {
	err        error
	groupBytes int64
	flushed    int64
	out        stage.Counter
	writes     []chan struct{}       // each closed once its batch is written, oldest first
	failed     atomic.Pointer[error] // the first write's error
}

// Written is the size of what went to the output so far; the caller may
// ask while rows are being written.
func (s *sink) Written() int64 { return s.out.N.Load() }

// sizer is a Parquet writer, generic or not.
type sizer interface {
	Size() int64
	Flush() error
}

// wrote ends the row group once it holds groupBytes; it runs on the
// writer's goroutine.
func (s *sink) wrote(w sizer) error {
	if w.Size()-s.flushed < s.groupBytes {
		return nil
	}
	if err := w.Flush(); err != nil {
		return err
	}
	s.flushed = w.Size()
	return nil
}

func (s *sink) fail(err error) error {
	s.err = fmt.Errorf("parquet: %w", err)
	return s.err
}

// handOff has the rows written once the batches handed before are, and
// takes a spare batch (one written) for the next ones.
func handOff[R any](s *sink, rows *[]R, spare chan []R, write func([]R) error) error {
	if err := s.check(); err != nil {
		return err
	}
	s.bound()
	var before chan struct{}
	if len(s.writes) > 0 {
		before = s.writes[len(s.writes)-1]
	}
	done := make(chan struct{})
	s.writes = append(s.writes, done)
	batch := *rows
	go func() {
		defer close(done)
		if before != nil {
			<-before
		}
		if s.failed.Load() == nil {
			if err := write(batch); err != nil {
				s.failed.Store(&err)
			}
		}
		select {
		case spare <- batch[:0]:
		default:
		}
	}()
	select {
	case *rows = <-spare:
	default:
		*rows = make([]R, 0, cap(batch))
	}
	return nil
}

// bound waits, when writeDepth writes follow the oldest, for the
// oldest to end: each write waits for the one before it, so at most
// writeDepth wait behind the one running.
func (s *sink) bound() {
	if len(s.writes) > writeDepth {
		<-s.writes[0]
		s.writes = s.writes[1:]
	}
}

// spares makes the channel of a writer's spare batches: room for every
// batch, waiting, written or filled.
func spares[R any]() chan []R { return make(chan []R, writeDepth+2) }

// check says whether rows may be handed off: no error so far.
func (s *sink) check() error {
	if s.err == nil {
		if err := s.failed.Load(); err != nil {
			return s.fail(*err)
		}
	}
	return s.err
}

// wait lets the writes end.
func (s *sink) wait() error {
	if n := len(s.writes); n > 0 {
		<-s.writes[n-1]
		s.writes = nil
	}
	return s.check()
}

// finish hands the writer the rows held (flush, when any are) and writes
// the footer.
func (s *sink) finish(held int, flush func() error, w io.Closer) error {
	var err error
	if held > 0 {
		err = flush()
	}
	if werr := s.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return s.fail(err)
	}
	return nil
}

// structFormat is a Parquet format of records that decode into T, a
// struct whose parquet tags give the schema; decode may hand a See each
// top-level member (Decoder). addresses are the paths of T's address
// columns, for --parquet-bloom.
type structFormat[T any] struct {
	decode    func([]byte, *T, *jsonscan.See) error
	addresses [][]string
	free      *sync.Pool // rows decoded ahead, once added
}

func newStructFormat[T any](decode func([]byte, *T, *jsonscan.See) error, addresses ...[]string) structFormat[T] {
	return structFormat[T]{decode, addresses, &sync.Pool{New: func() any { return new(T) }}}
}

// New makes an encoder of the format.
func (f structFormat[T]) New(w io.Writer, o Options) Encoder {
	return &structParquet[T]{sink: sink{groupBytes: rowGroupBytes, out: stage.Counter{W: w}}, o: o, f: f,
		rows: make([]T, 0, rowBatch), spare: spares[T]()}
}

// Decode decodes a record ahead into a row for Add (a Decoder).
func (f structFormat[T]) Decode(raw []byte, see *jsonscan.See) (any, error) {
	row := f.free.Get().(*T)
	var zero T
	*row = zero
	if err := f.decode(raw, row, see); err != nil {
		f.free.Put(row)
		return nil, decodeError(err)
	}
	return row, nil
}

// open makes the writer; the schema is T's.
func (e *structParquet[T]) open() error {
	options, err := writerOptions(e.o, e.f.addresses...)
	if err != nil {
		return e.fail(err)
	}
	e.w = parquet.NewGenericWriter[T](&e.out, options...)
	return nil
}

// ready says whether records may be added, the writer made.
func (e *structParquet[T]) ready() error {
	if e.err != nil {
		return e.err
	}
	if e.w == nil {
		return e.open()
	}
	return nil
}

func (e *structParquet[T]) Record(raw []byte) error {
	if err := e.ready(); err != nil {
		return err
	}
	var zero T
	e.rows = append(e.rows, zero)
	if err := e.f.decode(raw, &e.rows[len(e.rows)-1], nil); err != nil {
		e.rows = e.rows[:len(e.rows)-1]
		return decodeError(err)
	}
	return e.added()
}

// Add adds a row that its format's Decode made.
func (e *structParquet[T]) Add(row any) error {
	if err := e.ready(); err != nil {
		return err
	}
	e.rows = append(e.rows, *row.(*T))
	e.f.free.Put(row)
	return e.added()
}

// added hands the rows to the writer once they make a batch.
func (e *structParquet[T]) added() error {
	if len(e.rows) == rowBatch {
		return e.flush()
	}
	return nil
}

func decodeError(err error) error { return stage.BadInput(fmt.Errorf("decode: %w", err)) }

func (e *structParquet[T]) flush() error {
	return handOff(&e.sink, &e.rows, e.spare, func(rows []T) error {
		if _, err := e.w.Write(rows); err != nil {
			return err
		}
		clear(rows)
		return e.wrote(e.w)
	})
}

// Close writes what is left and the footer; a file without records has
// the schema and no row.
func (e *structParquet[T]) Close() error {
	if err := e.ready(); err != nil {
		return err
	}
	return e.finish(len(e.rows), e.flush, e.w)
}

// awsParquet writes AWS flow log records as AWS delivers them in Parquet:
// the columns of the records' version, named with underscores, integers
// as INT32 or INT64, '-' as null.
type awsParquet struct {
	sink
	o      Options
	w      *parquet.GenericWriter[any]
	fields []string // of the first record, in order
	column []int    // each field's column in the schema
	rows   []parquet.Row
	spare  chan []parquet.Row
}

// awsTypes are the integer columns of AWS's Parquet flow logs; the
// others are strings.
var awsTypes = map[string]parquet.Node{
	"version": parquet.Int(32), "srcport": parquet.Encoded(parquet.Int(32), &parquet.Plain), "dstport": parquet.Encoded(parquet.Int(32), &parquet.Plain), "protocol": parquet.Int(32),
	"packets": parquet.Int(64), "bytes": parquet.Int(64), "start": parquet.Int(64), "end": parquet.Int(64),
	"tcp-flags": parquet.Int(32), "traffic-path": parquet.Int(32),
}

func newAWSParquet(w io.Writer, o Options) Encoder {
	return &awsParquet{sink: sink{groupBytes: awsRowGroupBytes, out: stage.Counter{W: w}}, o: o, spare: spares[parquet.Row]()}
}

// open makes the schema from the first record's fields, which must be
// those of a version of AWS flow logs, in order.
func (e *awsParquet) open(raw []byte) error {
	var fields []string
	_, err := jsonscan.Members(raw, func(m jsonscan.Member) error {
		if !m.Is("Tag") {
			fields = append(fields, string(m.Key))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !slices.ContainsFunc([]int{2, 3, 4, 5}, func(v int) bool { return slices.Equal(fields, awsflowlogs.Fields(v)) }) {
		return fmt.Errorf("fields (%s) are not those of an AWS flow logs version", strings.Join(fields, " "))
	}
	options, err := writerOptions(e.o, []string{"srcaddr"}, []string{"dstaddr"}, []string{"pkt_srcaddr"}, []string{"pkt_dstaddr"})
	if err != nil {
		return e.fail(err)
	}
	columns := make([]string, len(fields)) // AWS's Parquet names: hyphens made underscores
	group := parquet.Group{}
	for i, name := range fields {
		node, ok := awsTypes[name]
		if !ok {
			node = parquet.String()
		}
		columns[i] = strings.ReplaceAll(name, "-", "_")
		group[columns[i]] = parquet.Optional(node)
	}
	schema := parquet.NewSchema("awsflowlogs", group)
	index := map[string]int{}
	for i, path := range schema.Columns() {
		index[path[0]] = i
	}
	e.fields, e.column = fields, nil
	for _, c := range columns {
		e.column = append(e.column, index[c])
	}
	e.w = parquet.NewGenericWriter[any](&e.out, append(options, schema)...)
	return nil
}

func (e *awsParquet) Record(raw []byte) error {
	if e.err != nil {
		return e.err
	}
	if e.w == nil {
		if err := e.open(raw); err != nil {
			if e.err != nil {
				return e.err
			}
			return stage.BadInput(fmt.Errorf("awsflowlogs record: %w", err))
		}
	}
	row, err := e.row(raw)
	if err != nil {
		return stage.BadInput(fmt.Errorf("awsflowlogs record: %w", err))
	}
	e.rows = append(e.rows, row)
	if len(e.rows) == awsRowBatch {
		return e.flush()
	}
	return nil
}

// row is a record's row: its fields, those of the first record, in the
// schema's column order.
func (e *awsParquet) row(raw []byte) (parquet.Row, error) {
	row := make(parquet.Row, len(e.fields))
	i := 0
	differ := func() error {
		return fmt.Errorf("fields differ from the first record's (%s)", strings.Join(e.fields, " "))
	}
	_, err := jsonscan.Members(raw, func(m jsonscan.Member) error {
		if m.Is("Tag") {
			return nil
		}
		if i >= len(e.fields) || !m.Is(e.fields[i]) {
			return differ()
		}
		col := e.column[i]
		v, err := awsValue(e.fields[i], raw[m.Start:m.End], m.Kind)
		if err != nil {
			return err
		}
		if v.IsNull() {
			row[col] = v.Level(0, 0, col)
		} else {
			row[col] = v.Level(0, 1, col)
		}
		i++
		return nil
	})
	if err == nil && i != len(e.fields) {
		err = differ()
	}
	return row, err
}

// awsValue is a field's value: an integer column takes a number, or '-'
// or null for none; a string column a string.
func awsValue(field string, raw []byte, kind jsonscan.Kind) (parquet.Value, error) {
	node, integer := awsTypes[field]
	switch {
	case kind == jsonscan.Null:
		return parquet.NullValue(), nil
	case integer && kind == jsonscan.Number:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return parquet.Value{}, fmt.Errorf("%s: %w", field, err)
		}
		if node.Type().Kind() == parquet.Int32 {
			return parquet.Int32Value(int32(n)), nil
		}
		return parquet.Int64Value(n), nil
	case kind == jsonscan.String:
		s, err := jsonscan.StringValue(raw)
		if err != nil {
			return parquet.Value{}, fmt.Errorf("%s: %w", field, err)
		}
		if integer {
			if s == "-" {
				return parquet.NullValue(), nil
			}
			return parquet.Value{}, fmt.Errorf("%s: %q is not a number", field, s)
		}
		return parquet.ByteArrayValue([]byte(s)), nil
	}
	return parquet.Value{}, fmt.Errorf("%s: want a %s, got %s", field, map[bool]string{true: "number", false: "string"}[integer], kind)
}

func (e *awsParquet) flush() error {
	return handOff(&e.sink, &e.rows, e.spare, func(rows []parquet.Row) error {
		if _, err := e.w.WriteRows(rows); err != nil {
			return err
		}
		return e.wrote(e.w)
	})
}

// Close writes what is left and the footer; without a record, whose
// fields make the schema, it writes nothing.
func (e *awsParquet) Close() error {
	if e.err != nil || e.w == nil {
		return e.err
	}
	return e.finish(len(e.rows), e.flush, e.w)
}

// anyParquet is the parquet format: the first record tells which kind of
// record the file holds, by fields that only that kind has.
type anyParquet struct {
	out io.Writer
	o   Options
	enc Encoder
}

func newAnyParquet(w io.Writer, o Options) Encoder { return &anyParquet{out: w, o: o} }

// Written is what the encoder of the file's kind wrote so far.
func (e *anyParquet) Written() int64 {
	if b, ok := e.enc.(Background); ok {
		return b.Written()
	}
	return 0
}

// kinds tell a record's kind by a field only it has, tried in order.
var kinds = []struct {
	field string
	new   func(io.Writer, Options) Encoder
}{
	{"srcaddr", newAWSParquet},
	{"initiator_ip", vpclogsParquet.New},
	{"LogStatus", secadvisorParquet.New},
	{"UUID", flowsParquet.New},
}

func (e *anyParquet) Record(raw []byte) error {
	if e.enc == nil {
		for _, k := range kinds {
			if _, _, ok := jsonscan.Get(raw, k.field); ok {
				e.enc = k.new(e.out, e.o)
				break
			}
		}
		if e.enc == nil {
			return stage.BadInput(fmt.Errorf("not a flow, nor a secadvisor, AWS or IBM flow log record: no UUID, LogStatus, srcaddr or initiator_ip"))
		}
	}
	return e.enc.Record(raw)
}

// Close ends the file; without a record, there is none.
func (e *anyParquet) Close() error {
	if e.enc == nil {
		return nil
	}
	return e.enc.Close()
}

var (
	flowsParquet      = newStructFormat(flow.DecodeSeeing, []string{"Network", "A"}, []string{"Network", "B"})
	secadvisorParquet = newStructFormat(secadvisor.Decode, []string{"Network", "A"}, []string{"Network", "B"})
	vpclogsParquet    = newStructFormat(vpclogs.Decode, []string{"initiator_ip"}, []string{"target_ip"})

	_ Background = (*structParquet[flow.Flow])(nil)
	_ Rows       = (*structParquet[flow.Flow])(nil)
	_ Background = (*awsParquet)(nil)
	_ Background = (*anyParquet)(nil)
)
