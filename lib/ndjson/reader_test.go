package ndjson

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type got struct {
	line int
	text string
	err  string
}

func readAll(t *testing.T, r *Reader) []got {
	t.Helper()
	var out []got
	for {
		line, err := r.Next()
		if err == io.EOF {
			return out
		}
		g := got{line: r.Line(), text: string(line)}
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("unexpected error %v", err)
			}
			g.err = err.Error()
		}
		out = append(out, g)
	}
}

func TestReader(t *testing.T) {
	long := strings.Repeat("x", 40)
	in := "a\r\n\n  \r\nb\n" + long + "\n" + long + "y\nc"
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), 16, 40)
	want := []got{
		{line: 1, text: "a"},
		{line: 4, text: "b"},
		{line: 5, text: long},
		{line: 6, err: "line 6: line too long"},
		{line: 7, text: "c"},
	}
	gotLines := readAll(t, r)
	if len(gotLines) != len(want) {
		t.Fatalf("got %+v, want %+v", gotLines, want)
	}
	for i := range want {
		if gotLines[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, gotLines[i], want[i])
		}
	}
}

func TestReaderBigLine(t *testing.T) {
	big := strings.Repeat("z", 10<<20)
	r := NewReader(strings.NewReader("x\n"+big+"\ny\n"), 4096, 0)
	lines := readAll(t, r)
	if len(lines) != 3 || lines[1].text != big || lines[2].text != "y" || lines[2].line != 3 {
		t.Fatalf("big line not read whole: %d lines", len(lines))
	}
	if cap(r.buf) > keepBuf {
		t.Errorf("line buffer of %d bytes kept after a big line", cap(r.buf))
	}
}

func TestReaderErr(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)), 16, 0)
	if l, err := r.Next(); err != nil || string(l) != "a" {
		t.Fatalf("first line: %q %v", l, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
}

// FuzzReader checks that the reader returns exactly the non-blank lines of
// any input, without their line ends, numbered as they stand.
func FuzzReader(f *testing.F) {
	f.Add([]byte("a\r\nb\n\nc"), 4)
	f.Add([]byte("\n\n\r\n"), 1)
	f.Add([]byte(strings.Repeat("long", 100)), 16)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<16 {
			max = 64
		}
		r := NewReader(bytes.NewReader(in), 16, max)
		var want []got
		for i, l := range strings.Split(string(in), "\n") {
			l = strings.TrimSuffix(l, "\r")
			switch {
			case len(l) > max: // too long, even if blank: the reader cannot know
				want = append(want, got{line: i + 1, err: (&LineError{Line: i + 1, Err: ErrTooLong}).Error()})
			case strings.Trim(l, " \t\r") != "":
				want = append(want, got{line: i + 1, text: l})
			}
		}
		lines := readAll(t, r)
		if len(lines) != len(want) {
			t.Fatalf("got %d lines, want %d: %+v vs %+v", len(lines), len(want), lines, want)
		}
		for i := range want {
			if lines[i] != want[i] {
				t.Fatalf("line %d: got %+v, want %+v", i, lines[i], want[i])
			}
		}
	})
}
