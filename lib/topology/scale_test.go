package topology

import (
	"runtime"
	"strings"
	"testing"

	"github.com/skyflows/skyflows/lib/analyzertest"
)

// TestLargeTopology: the sync of a 100 000-node topology streams into the
// mirror without being held whole, and the mirror stays under 200 MiB.
func TestLargeTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	r, generated := analyzertest.GenerateStream(100_000)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g := NewGraph(nil)
	if err := g.Apply(r); err != nil {
		t.Fatal(err)
	}
	info := generated()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	nodes, edges := g.Len()
	if nodes != info.Nodes || edges != info.Edges || nodes < 100_000 {
		t.Fatalf("%d nodes and %d edges, generated %d and %d", nodes, edges, info.Nodes, info.Edges)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d nodes, %d edges: %.1f MiB of heap, %.1f MiB peak total from the runtime", nodes, edges,
		float64(heap)/(1<<20), float64(after.Sys)/(1<<20))
	if heap > 200<<20 {
		t.Errorf("mirror takes %d MiB, want under 200", heap>>20)
	}
	for i := 0; i < len(info.PodIPs); i += 997 {
		c, ok := g.Resolve(info.PodIPs[i], info.CaptureTIDs[i])
		ns, _, _ := strings.Cut(c.Name, "/")
		if !ok || c.Type != Pod || c.Set != "ReplicaSet:"+ns+"/web" {
			t.Fatalf("%s: %+v", info.PodIPs[i], c)
		}
	}
	runtime.KeepAlive(g)
}

// BenchmarkResolve: two lookups a flow, as --enrich makes, in a 100 000-node
// mirror.
func BenchmarkResolve(b *testing.B) {
	r, generated := analyzertest.GenerateStream(100_000)
	g := NewGraph(nil)
	if err := g.Apply(r); err != nil {
		b.Fatal(err)
	}
	info := generated()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		k := i % len(info.PodIPs)
		g.Resolve(info.PodIPs[k], info.CaptureTIDs[k])
		g.Resolve("8.8.8.8", info.CaptureTIDs[k])
		i++
	}
}
