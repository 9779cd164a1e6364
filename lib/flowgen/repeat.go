package flowgen

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/skyflows/skyflows/lib/flow"
)

// Repeat writes n flows made from recorded ones (NDJSON): the recording
// again and again, each pass with new UUIDs and tracking ids (the same
// for the updates of one flow within a pass) and its times moved past
// the pass before, so that a short recording from a real analyzer makes
// as many flows as a measurement needs, with its addresses, ports and
// layers as they were. perFrame, as WriteFrames'.
func Repeat(w io.Writer, recorded []byte, n, perFrame int) error {
	var flows []flow.Flow
	first, last := int64(1<<62), int64(0)
	for i, line := range bytes.Split(recorded, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var f flow.Flow
		if err := flow.Decode(line, &f); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		first, last = min(first, f.Start), max(last, f.Last)
		flows = append(flows, f)
	}
	if len(flows) == 0 {
		return fmt.Errorf("no flows recorded")
	}
	span := last - first + 1000
	return writeFlows(w, n, perFrame, func(i int) *flow.Flow {
		pass := int64(i / len(flows))
		f := flows[i%len(flows)]
		f.UUID, f.TrackingID, f.L3TrackingID = renamed(f.UUID, pass), renamed(f.TrackingID, pass), renamed(f.L3TrackingID, pass)
		shift := pass * span
		f.Start, f.Last = f.Start+shift, f.Last+shift
		for _, m := range []**flow.Metric{&f.Metric, &f.LastUpdateMetric} {
			if *m != nil {
				moved := **m
				moved.Start, moved.Last = moved.Start+shift, moved.Last+shift
				*m = &moved
			}
		}
		return &f
	})
}

// renamed is id in a pass: the same id and pass give the same result.
func renamed(id string, pass int64) string {
	if id == "" || pass == 0 {
		return id
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", id, pass)
	return fmt.Sprintf("%016x", h.Sum64())
}
