package transform

import (
	"io"
	"os"
	"testing"
)

func TestTmpProfile(t *testing.T) {
	f, _ := os.Open("/tmp/g2.ndjson")
	Run([]string{"sky-transform", "-q", "--to", os.Getenv("TO")}, f, io.Discard, io.Discard)
}
