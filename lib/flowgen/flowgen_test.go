package flowgen

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/skyflows/skyflows/lib/flow"
)

// TestUpdates: about four flows in ten update a flow seen before, each
// update's window adds up to its new totals, no flow is updated after it
// ended, and the same seed gives the same flows.
func TestUpdates(t *testing.T) {
	var a, b bytes.Buffer
	New(7).Write(&a, 20000)
	New(7).Write(&b, 20000)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed gave other flows")
	}
	seen := map[string]*flow.Flow{}
	n := 0
	sc := bufio.NewScanner(&a)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := new(flow.Flow)
		if err := flow.Decode(sc.Bytes(), f); err != nil {
			t.Fatal(err)
		}
		prev, ok := seen[f.UUID]
		seen[f.UUID] = f
		if !ok {
			continue
		}
		n++
		if prev.FinishType != flow.NotFinished {
			t.Fatalf("%s updated after it ended", f.UUID)
		}
		p, w, m := prev.Metric, f.LastUpdateMetric, f.Metric
		if p.ABPackets+w.ABPackets != m.ABPackets || p.ABBytes+w.ABBytes != m.ABBytes ||
			p.BAPackets+w.BAPackets != m.BAPackets || p.BABytes+w.BABytes != m.BABytes || w.Start != prev.LastUpdateMetric.Last {
			t.Fatalf("%s: window %+v does not lead from %+v to %+v", f.UUID, w, p, m)
		}
	}
	if share := float64(n) / 20000; share < updates-0.05 || share > updates+0.05 {
		t.Errorf("%.2f of the flows are updates, want about %.1f", share, updates)
	}
}

// TestRepeat: a recording repeated keeps its flows as they were but for
// their ids, new in each pass and shared by a flow's updates, and their
// times, later in each pass than in the one before.
func TestRepeat(t *testing.T) {
	recorded, err := os.ReadFile("../../testdata/flows/recorded.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	originals := bytes.Split(bytes.TrimSpace(recorded), []byte("\n"))
	var buf bytes.Buffer
	if err := Repeat(&buf, recorded, 3*len(originals)+5, 0); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 3*len(originals)+5 {
		t.Fatalf("%d flows, want %d", len(lines), 3*len(originals)+5)
	}
	if !bytes.Equal(lines[0], originals[0]) {
		t.Errorf("the first pass is not the recording:\n%s\n%s", lines[0], originals[0])
	}
	uuids := map[string]string{} // UUID -> the original's
	var lastEnd int64
	for i, l := range lines {
		var f, orig flow.Flow
		flow.Decode(l, &f)
		flow.Decode(originals[i%len(originals)], &orig)
		if o, seen := uuids[f.UUID]; seen && o != orig.UUID {
			t.Fatalf("line %d: UUID %s of two recorded flows", i+1, f.UUID)
		}
		uuids[f.UUID] = orig.UUID
		if i%len(originals) == 0 && i > 0 && f.Start <= lastEnd {
			t.Errorf("line %d: a pass starts at %d, before the last ended (%d)", i+1, f.Start, lastEnd)
		}
		lastEnd = max(lastEnd, f.Last)
		f.UUID, f.TrackingID, f.L3TrackingID, f.Start, f.Last, f.Metric, f.LastUpdateMetric = orig.UUID, orig.TrackingID, orig.L3TrackingID, orig.Start, orig.Last, orig.Metric, orig.LastUpdateMetric
		if !reflect.DeepEqual(f, orig) {
			t.Fatalf("line %d: more than ids and times changed:\n%+v\n%+v", i+1, f, orig)
		}
	}
	distinct := map[string]bool{}
	for _, l := range originals {
		var f flow.Flow
		flow.Decode(l, &f)
		distinct[f.UUID] = true
	}
	if want := 4 * len(distinct); len(uuids) > want || len(uuids) < 3*len(distinct) {
		t.Errorf("%d UUIDs for %d recorded flows over four passes", len(uuids), len(distinct))
	}
}
