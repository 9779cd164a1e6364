package s3put

import (
	"bytes"
	"strings"
	"testing"
)

// TestReadPart: a part holds what the reader holds up to the limit, however
// wrong the size hint, and a hinted small object takes no more memory.
func TestReadPart(t *testing.T) {
	for _, c := range []struct {
		size         int
		limit, hint  int64
		want, maxCap int
	}{
		{size: 10, limit: 100, hint: 10, want: 10, maxCap: 11},
		{size: 10, limit: 100, hint: -1, want: 10, maxCap: 100},
		{size: 10, limit: 100, hint: 4, want: 10, maxCap: 100},     // grew since
		{size: 10, limit: 100, hint: 50, want: 10, maxCap: 51},     // shrank since
		{size: 150, limit: 100, hint: 150, want: 100, maxCap: 100}, // a first part
		{size: 150, limit: 100, hint: 20, want: 100, maxCap: 100},
		{size: 0, limit: 100, hint: 0, want: 0, maxCap: 1},
	} {
		data := strings.Repeat("x", c.size)
		got, err := readPart(strings.NewReader(data), c.limit, c.hint)
		if err != nil || !bytes.Equal(got, []byte(data[:c.want])) || cap(got) > c.maxCap {
			t.Errorf("%+v: %d bytes (cap %d), %v", c, len(got), cap(got), err)
		}
	}
}
