package encode

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Magic numbers of the compressed inputs sky-encode reads as they are.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// input reads its source decompressed when it starts as a gzip or zstd
// stream does (sky-batch's objects, .gz or .zst), as it is otherwise; and
// then, from an object of sky-batch's, its records one a line (objects.go).
// It looks at the source on the first Read, not before: --help reads
// nothing.
type input struct {
	src   io.Reader
	r     io.Reader
	kind  string // gzip, zstd or ""
	close func()
}

func (in *input) Read(p []byte) (int, error) {
	if in.r == nil {
		if err := in.open(); err != nil {
			return 0, err
		}
	}
	n, err := in.r.Read(p)
	if err != nil && err != io.EOF && in.kind != "" {
		err = fmt.Errorf("%s input: %w", in.kind, err)
	}
	return n, err
}

func (in *input) open() error {
	br := bufio.NewReaderSize(in.src, 64<<10)
	head, _ := br.Peek(len(zstdMagic))
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip input: %w", err)
		}
		in.r, in.kind, in.close = zr, "gzip", func() { zr.Close() }
	case bytes.HasPrefix(head, zstdMagic):
		// One goroutine and a bounded window: memory stays small whatever
		// the object's size.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return fmt.Errorf("zstd input: %w", err)
		}
		in.r, in.kind, in.close = zr, "zstd", zr.Close
	default:
		in.r = br
	}
	r, err := objectRecords(in.r)
	if err != nil {
		return err
	}
	in.r = r
	return nil
}

// Close releases the decoder.
func (in *input) Close() {
	if in.close != nil {
		in.close()
	}
}
