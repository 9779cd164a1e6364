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
type object struct {
	meta
	spool       string
	journal     *os.File
	journalW    *bufio.Writer
	part        *os.File
	partFile    *bufio.Writer
	counter     countingWriter
	compressor  io.WriteCloser // or nil
	partW       *bufio.Writer
	enc         encode.Encoder
	records     int
	first, last int64
	opened      time.Time
	touched     bool   // by the chunk of input being handled
	folder      string // of its key, whose {seq} counter it took
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
	// Whole or not at all: a full disk must not leave a torn one.
	if err := writeAtomic(s.path(openDir, m.ID+".meta"), data); err != nil {
		return nil, err
	}
	var err error
	if o.journal, err = os.OpenFile(s.path(openDir, m.ID+".ndjson"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	o.journalW = bufio.NewWriterSize(o.journal, 64<<10)
	if o.part, err = os.OpenFile(s.path(openDir, m.ID+".part"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		o.journal.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	// The compressor writes a few hundred bytes at a time: buffer them.
	o.partFile = bufio.NewWriterSize(o.part, 256<<10)
	o.counter = countingWriter{w: o.partFile, sha: sha256.New(), md5: md5.New()}
	var w io.Writer = &o.counter
	switch c.compress {
	case "gzip":
		if o.compressor, err = gzip.NewWriterLevel(&o.counter, c.level); err != nil {
			return nil, err
		}
	case "zstd":
		// One goroutine and a 1 MiB window per open object.
		if o.compressor, err = zstd.NewWriter(&o.counter, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(c.level)),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20)); err != nil {
			return nil, err
		}
	}
	if o.compressor != nil {
		w = o.compressor
	}
	o.partW = bufio.NewWriterSize(w, 64<<10)
	o.enc = c.format.New(o.partW, c.options)
	return o, nil
}

// add writes one record: verbatim to the journal, encoded to the part.
// The journal line is written only once the encoder took the record.
func (o *object) add(raw, encoded []byte, ts int64) error {
	if err := o.enc.Record(encoded); err != nil {
		return err
	}
	o.journalW.Write(raw)
	if err := o.journalW.WriteByte('\n'); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if o.records == 0 || ts < o.first {
		o.first = ts
	}
	o.last = max(o.last, ts)
	o.records++
	return nil
}

// discard removes an open object's files.
func (s *spoolDir) discard(o *object) {
	o.journal.Close()
	o.part.Close()
	if s.check() != nil {
		return
	}
	for _, ext := range []string{".ndjson", ".meta", ".part"} {
		os.Remove(s.path(openDir, o.ID+ext))
	}
}

// abandon closes an open object's files and leaves them for the next
// run to finish from the journal.
func (o *object) abandon() {
	o.journalW.Flush()
	o.journal.Close()
	o.part.Close()
}

// size is the compressed size so far, give or take a compression block.
func (o *object) size() int64 { return o.counter.n + int64(o.partW.Buffered()) }

// finish ends the object: encoded, compressed, fsynced, renamed into
// ready/, its manifest written the same way; then the journal goes.
func (s *spoolDir) finish(o *object, c *codec) (*spool.Manifest, error) {
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
		err = o.part.Sync()
	}
	if cerr := o.part.Close(); err == nil {
		err = cerr
	}
	o.journalW.Flush()
	o.journal.Close()
	if err != nil {
		return nil, fmt.Errorf("spool: object %s: %w", o.Key, err)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := os.Rename(s.path(openDir, o.ID+".part"), s.path(readyDir, o.ID)); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	m := describe(s.dir, o, c)
	data, _ := json.Marshal(m)
	if err := writeAtomic(s.path(manifestDir, o.ID+".json"), append(data, '\n')); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Join(s.dir, readyDir)); err != nil {
		return nil, err
	}
	for _, ext := range []string{".ndjson", ".meta"} {
		os.Remove(s.path(openDir, o.ID+ext))
	}
	return m, nil
}

// describe makes the manifest of a finished object, checksums included.
func describe(dir string, o *object, c *codec) *spool.Manifest {
	m := &spool.Manifest{
		Spool: dir, Path: spool.ObjectPath(o.ID), Key: o.Key, Records: o.records, Bytes: o.counter.n,
		FirstTimestamp: o.first, LastTimestamp: o.last, ContentType: c.contentType,
		SHA256: hex.EncodeToString(o.counter.sha.Sum(nil)), MD5: base64.StdEncoding.EncodeToString(o.counter.md5.Sum(nil)),
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
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: %w", err)
	}
	return nil
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
