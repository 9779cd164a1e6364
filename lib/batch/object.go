package batch

import (
	"bufio"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/skyflows/skyflows/lib/encode"
	"github.com/skyflows/skyflows/lib/spool"
)

// The spool's directories, by their short names here.
const (
	openDir     = spool.Open
	readyDir    = spool.Ready
	manifestDir = spool.Manifests
)

// meta names an object; it is written when the object opens.
type meta struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Group  string `json:"group"`
	Stream string `json:"stream"`
	Seq    int    `json:"seq"`
}

// codec is how objects are encoded and compressed.
type codec struct {
	format      encode.Format
	options     encode.Options
	compress    string // gzip, zstd or "" (none)
	level       int
	contentType string
	// metadata are the object's header fields (vpclogs), which IBM puts
	// in the object's metadata too.
	metadata [][2]string
}

// object is an open object: its journal and its encoded, compressed part.
// Sealed, its part is whole and its gear gone to the next object: it
// waits for its chunk's commit with its two files alone.
type object struct {
	meta
	*gear              // nil once sealed
	shaSum      string // the part's SHA-256, hex, once sealed
	md5Sum      string // and its MD5, base64
	spool       string
	journal     *os.File
	part        *os.File
	counter     countingWriter
	enc         encode.Encoder
	records     int
	first, last int64
	opened      time.Time
	touched     bool   // by the chunk of input being handled
	folder      string // of its key, whose {seq} counter it took
	parquet     bool   // counted among the open Parquet objects
}

// gear is what an object writes through: its buffers, compressor and
// checksums. A finished object's gear goes to the next one: made anew
// (a compressor's tables, a few hundred KiB of buffers) it was half the
// cost of an object of a few records.
type gear struct {
	journalW   *bufio.Writer
	partFile   *bufio.Writer // the compressed part, to the file
	partW      *bufio.Writer // the encoded part, to the compressor
	compressor compressor    // or nil
	sha, md5   hash.Hash
}

// compressor is a gzip or zstd writer, which can start over on another
// writer.
type compressor interface {
	io.WriteCloser
	Reset(io.Writer)
}

// countingWriter counts and checksums what goes through to the file,
// compressed, so that finishing an object need not read it back.
type countingWriter struct {
	w        io.Writer
	n        int64
	sha, md5 hash.Hash
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.sha.Write(p[:n])
	c.md5.Write(p[:n])
	return n, err
}

func (s *spoolDir) path(dir, name string) string { return filepath.Join(s.dir, dir, name) }

// open starts an object: its meta, an empty journal and part.
func (s *spoolDir) open(m meta, c *codec) (*object, error) {
	o := &object{meta: m, spool: s.dir, opened: time.Now()}
	data, _ := json.Marshal(m)
	// Whole or not at all: a full disk must not leave a torn one. Not
	// fsynced, as the journal is not: a power cut that tears it is
	// recovered from the journal (batcher.reopen).
	f, err := writeTemp(s.path(openDir, m.ID+".meta"), data)
	if err == nil {
		f.Close()
		if err = os.Rename(f.Name(), s.path(openDir, m.ID+".meta")); err != nil {
			os.Remove(f.Name())
		}
	}
	if err == nil {
		o.journal, err = os.OpenFile(s.path(openDir, m.ID+".ndjson"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
	if err == nil {
		o.part, err = os.OpenFile(s.path(openDir, m.ID+".part"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
	if err == nil {
		o.gear, err = s.takeGear(c)
	}
	if err != nil {
		o.closeFiles()
		return nil, fmt.Errorf("spool: %w", err)
	}
	o.journalW.Reset(o.journal)
	o.partFile.Reset(o.part)
	o.sha.Reset()
	o.md5.Reset()
	o.counter = countingWriter{w: o.partFile, sha: o.sha, md5: o.md5}
	var w io.Writer = &o.counter
	if o.compressor != nil {
		o.compressor.Reset(&o.counter)
		w = o.compressor
	}
	o.partW.Reset(w)
	o.enc = c.format.New(o.partW, c.options)
	if o.parquet = encode.IsParquet(c.format.Name); o.parquet {
		s.parquet++
		limitMemory(s.parquet)
	}
	return o, nil
}

// takeGear gives a finished object's gear, or new gear.
func (s *spoolDir) takeGear(c *codec) (*gear, error) {
	if n := len(s.spare); n > 0 {
		g := s.spare[n-1]
		s.spare = s.spare[:n-1]
		return g, nil
	}
	g := &gear{
		journalW: bufio.NewWriterSize(nil, 64<<10),
		// The compressor writes a few hundred bytes at a time: buffer them.
		partFile: bufio.NewWriterSize(nil, 256<<10),
		partW:    bufio.NewWriterSize(nil, 64<<10),
		sha:      sha256.New(), md5: md5.New(),
	}
	var err error
	switch c.compress {
	case "gzip":
		g.compressor, err = gzip.NewWriterLevel(nil, c.level)
	case "zstd":
		// One goroutine and a 1 MiB window per open object.
		g.compressor, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(c.level)),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	}
	return g, err
}

// giveBack keeps an object's gear for the next object.
func (s *spoolDir) giveBack(o *object) {
	s.spare = append(s.spare, o.gear)
	o.gear = nil
	if o.parquet {
		o.parquet = false
		s.parquet--
		limitMemory(s.parquet)
	}
}

// closeFiles closes the object's files that are open.
func (o *object) closeFiles() {
	for _, f := range []*os.File{o.journal, o.part} {
		if f != nil {
			f.Close()
		}
	}
}

// add writes one record: verbatim to the journal, encoded to the part.
// The journal line is written only once the encoder took the record.
func (o *object) add(r *record) error {
	var err error
	if r.row != nil {
		err = o.enc.(encode.Rows).Add(r.row)
	} else {
		err = o.enc.Record(r.encoded)
	}
	if err != nil {
		return err
	}
	o.journalW.Write(r.raw)
	if err := o.journalW.WriteByte('\n'); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if o.records == 0 || r.ts < o.first {
		o.first = r.ts
	}
	o.last = max(o.last, r.ts)
	o.records++
	return nil
}

// discard removes an open object's files.
func (s *spoolDir) discard(o *object) {
	o.closeFiles()
	s.giveBack(o)
	if s.check() != nil {
		return
	}
	for _, ext := range []string{".ndjson", ".meta", ".part"} {
		os.Remove(s.path(openDir, o.ID+ext))
	}
}

// discardLeft removes what is left of an object an earlier run left
// open, once recovered.
func (s *spoolDir) discardLeft(id string) {
	if s.check() != nil {
		return
	}
	for _, ext := range []string{".ndjson.old", ".ndjson", ".meta", ".part"} {
		os.Remove(s.path(openDir, id+ext))
	}
}

// abandon closes an open object's files and leaves them for the next
// run to finish from the journal.
func (o *object) abandon() {
	if !o.sealed() {
		o.journalW.Flush()
	}
	o.closeFiles()
}

// sealed says whether the object's part is whole, its gear given back.
func (o *object) sealed() bool { return o.gear == nil }

// mark ends the object's records of a chunk in its journal: those
// before it were committed once the input journal says the chunk is.
func (o *object) mark(chunk int64) error {
	var err error
	if o.sealed() {
		_, err = fmt.Fprintf(o.journal, "#%d\n", chunk)
	} else if _, err = fmt.Fprintf(o.journalW, "#%d\n", chunk); err == nil {
		err = o.journalW.Flush()
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// size is the compressed size so far, give or take a compression block.
func (o *object) size() int64 {
	if b, ok := o.enc.(encode.Background); ok {
		return b.Written()
	}
	return o.counter.n + int64(o.partW.Buffered())
}

// finish ends objects: each encoded, compressed, fsynced and renamed
// into ready/, its manifest written the same way; then the journals go.
// The objects' fsyncs, then their manifests', run together: a file
// system commits once for many (ext4, xfs), where one after another
// each waits for its own commit, so a crowd of small objects (groups
// that outnumber --max-open) costs a few disk flushes, not four each.
func (s *spoolDir) finish(objs []*object, c *codec) ([]*spool.Manifest, error) {
	var err error
	parts := make([]*os.File, len(objs))
	for i, o := range objs {
		if err == nil {
			err = s.seal(o)
		}
		parts[i] = o.part
	}
	if err == nil {
		err = syncAll(parts)
	}
	for _, o := range objs {
		if cerr := o.part.Close(); err == nil {
			err = cerr
		}
		if !o.sealed() { // its seal failed, or came after one that did
			o.journalW.Flush()
		}
		o.journal.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	ms := make([]*spool.Manifest, len(objs))
	paths := make([]string, len(objs))
	data := make([][]byte, len(objs))
	for i, o := range objs {
		if err := os.Rename(s.path(openDir, o.ID+".part"), s.path(readyDir, o.ID)); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		ms[i] = describe(s.dir, o, c)
		line, _ := json.Marshal(ms[i])
		paths[i], data[i] = s.path(manifestDir, o.ID+".json"), append(line, '\n')
	}
	if err := writeAllAtomic(paths, data); err != nil {
		return nil, err
	}
	for _, d := range []string{readyDir, manifestDir} {
		if err := syncDir(filepath.Join(s.dir, d)); err != nil {
			return nil, err
		}
	}
	for _, o := range objs {
		for _, ext := range []string{".ndjson", ".meta"} {
			os.Remove(s.path(openDir, o.ID+ext))
		}
	}
	return ms, nil
}

// seal writes out the rest of an object's part (the encoder's end, the
// compressor's, the buffers) and its journal's records, takes the part's
// checksums, and gives its gear and encoder back: a crowd of objects
// closed in one chunk of input (groups that outnumber --max-open) holds
// two files each until the commit, not a compressor and 384 KiB of
// buffers (a few thousand short records made as many objects, and GiBs).
func (s *spoolDir) seal(o *object) error {
	if o.sealed() {
		return nil
	}
	err := o.enc.Close()
	if err == nil {
		err = o.partW.Flush()
	}
	if err == nil && o.compressor != nil {
		err = o.compressor.Close()
	}
	if err == nil {
		err = o.partFile.Flush()
	}
	if err == nil {
		err = o.journalW.Flush()
	}
	if err != nil {
		return fmt.Errorf("object %s: %w", o.Key, err)
	}
	o.shaSum, o.md5Sum = hex.EncodeToString(o.sha.Sum(nil)), base64.StdEncoding.EncodeToString(o.md5.Sum(nil))
	o.enc, o.counter = nil, countingWriter{n: o.counter.n}
	s.giveBack(o)
	return nil
}

// syncAll fsyncs files together, sixteen at a time.
func syncAll(files []*os.File) error {
	if len(files) == 1 {
		return files[0].Sync()
	}
	errs := make([]error, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(files), 16) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				errs[i] = files[i].Sync()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// describe makes the manifest of a finished object, checksums included.
func describe(dir string, o *object, c *codec) *spool.Manifest {
	m := &spool.Manifest{
		Spool: dir, Path: spool.ObjectPath(o.ID), Key: o.Key, Records: o.records, Bytes: o.counter.n,
		FirstTimestamp: o.first, LastTimestamp: o.last, ContentType: c.contentType,
		SHA256: o.shaSum, MD5: o.md5Sum,
		Metadata: map[string]string{
			"first-timestamp": strconv.FormatInt(o.first, 10), "last-timestamp": strconv.FormatInt(o.last, 10),
			"num-records": strconv.Itoa(o.records),
		},
		Group: o.Group, Stream: o.Stream,
	}
	for _, kv := range c.metadata {
		m.Metadata[kv[0]] = kv[1]
	}
	m.ContentEncoding = c.compress
	return m
}

// writeAtomic writes a file whole or not at all: a temporary file,
// fsynced, renamed.
func writeAtomic(path string, data []byte) error {
	return writeAllAtomic([]string{path}, [][]byte{data})
}

// writeAllAtomic writes files as writeAtomic does, fsynced together.
func writeAllAtomic(paths []string, data [][]byte) error {
	files := make([]*os.File, 0, len(paths))
	err := func() error {
		for i, path := range paths {
			f, err := writeTemp(path, data[i])
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		return syncAll(files)
	}()
	for _, f := range files {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	for _, path := range paths {
		if err == nil {
			err = os.Rename(path+".tmp", path)
		}
		if err != nil {
			os.Remove(path + ".tmp")
		}
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// writeTemp writes data to path.tmp, left open and not fsynced; on an
// error, nothing is left.
func writeTemp(path string, data []byte) (*os.File, error) {
	f, err := os.OpenFile(path+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}
