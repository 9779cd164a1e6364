package jsonscan_test

import (
	"bytes"
	"testing"

	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/jsonscan"
)

func BenchmarkValid(b *testing.B) {
	var buf bytes.Buffer
	if err := flowgen.New(1).Write(&buf, 1000); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		for _, l := range lines {
			if err := jsonscan.Valid(l); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkMembers(b *testing.B) {
	var buf bytes.Buffer
	if err := flowgen.New(1).Write(&buf, 1000); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	b.SetBytes(int64(buf.Len()))
	n := 0
	for b.Loop() {
		for _, l := range lines {
			if _, err := jsonscan.Members(l, func(m jsonscan.Member) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
}
