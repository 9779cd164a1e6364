package flowgen

import (
	"bufio"
	"bytes"
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
