package analyzer

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// A recording holds frames one per line, each "<epoch ms>\t<frame>" as
// sky-flows --record writes it, or a bare frame (recorded elsewhere).

// AppendRecord appends the recording line of a frame received at at.
func AppendRecord(dst []byte, at time.Time, frame []byte) []byte {
	dst = strconv.AppendInt(dst, at.UnixMilli(), 10)
	dst = append(dst, '\t')
	dst = append(dst, frame...)
	return append(dst, '\n')
}

// SplitRecord returns the frame of a recording line and, when the line has
// one, the time it was received.
func SplitRecord(line []byte) (frame []byte, at time.Time, timed bool, err error) {
	tab := bytes.IndexByte(line, '\t')
	if tab <= 0 || line[0] == '{' {
		return line, time.Time{}, false, nil
	}
	ms, err := strconv.ParseInt(string(line[:tab]), 10, 64)
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("bad time %q", line[:tab])
	}
	return line[tab+1:], time.UnixMilli(ms), true, nil
}
