package topology

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// event is a graph event message of the analyzer.
func event(typ, obj string) []byte {
	return fmt.Appendf(nil, `{"Namespace":"Graph","Type":%q,"UUID":"u","Status":200,"Obj":%s}`, typ, obj)
}

func apply(t *testing.T, g *Graph, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		if err := g.Apply(bytes.NewReader(m)); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
}

// consistent checks what the state's parts say of each other: every id
// at its node, every link in the chains of both its ends, every edge
// linked or waiting for a node.
func consistent(s *state) error {
	linked := 0
	for id, r := range s.ids {
		n := &s.nodes[r]
		if n.id != id {
			return fmt.Errorf("id at the wrong node")
		}
		for l := n.children.first; l != noRef; l = s.links[l].nextChild {
			if s.links[l].parent != r {
				return fmt.Errorf("a child link from another parent")
			}
			linked++
		}
		for l := n.parents.first; l != noRef; l = s.links[l].nextParent {
			if s.links[l].child != r {
				return fmt.Errorf("a parent link to another child")
			}
		}
	}
	if linked+len(s.dangling) != len(s.edges) {
		return fmt.Errorf("%d edges linked and %d waiting, of %d", linked, len(s.dangling), len(s.edges))
	}
	return nil
}

// TestChurn: pods, containers, namespaces and their edges come, change
// and go a thousand times; the lookups follow, and the places, links and
// bytes of those that went are used again, so that the mirror of a busy
// cluster does not grow.
func TestChurn(t *testing.T) {
	g := NewGraph(nil)
	apply(t, g, event("SyncReply", `{"Nodes":[{"ID":"h","Metadata":{"Type":"host","Name":"node-1"}},`+
		`{"ID":"h-eth","Metadata":{"Type":"device","TID":"tid-eth","RoutingTables":[{"Src":"192.0.2.1"}]}}],`+
		`"Edges":[{"ID":"e-h","Parent":"h","Child":"h-eth"}]}`))
	pad := strings.Repeat("x", 300) // names long enough for the arena to fill with what went
	check := func(round int, want Context) {
		t.Helper()
		if got := resolve(g, "10.0.0.2", "tid-veth"); got != want {
			t.Fatalf("round %d: got %+v, want %+v", round, got, want)
		}
	}
	for r := range 1000 {
		pod := func(name string) []byte {
			return fmt.Appendf(nil, `{"ID":"p","Metadata":{"Type":"pod","Manager":"k8s","K8s":{"Namespace":"default","Name":%q,`+
				`"Extra":{"Status":{"ContainerStatuses":[{"ContainerID":"containerd://cid"}]}}}}}`, name)
		}
		// Edges first, then their nodes: they wait for them.
		apply(t, g, event("EdgeAdded", `{"ID":"e-ns-veth","Parent":"ns","Child":"veth"}`),
			event("EdgeAdded", `{"ID":"e-ns-c","Parent":"ns","Child":"c"}`),
			event("NodeAdded", `{"ID":"ns","Metadata":{"Type":"netns","Name":"ns"}}`),
			event("NodeAdded", `{"ID":"veth","Metadata":{"Type":"veth","TID":"tid-veth","IPV4":["10.0.0.2/24"]}}`),
			event("NodeAdded", fmt.Sprintf(`{"ID":"c","Metadata":{"Type":"container","Name":"c-%d-%s","Docker":{"ContainerID":"cid"}}}`, r, pad)))
		check(r, Context{Type: Container, Name: fmt.Sprintf("c-%d-%s", r, pad)})
		name := fmt.Sprintf("web-%d-%s", r, pad)
		apply(t, g, event("NodeAdded", string(pod(name))))
		check(r, Context{Type: Pod, Name: "default/" + name, Legacy: LegacyName("default/" + name)})
		name += "-b"
		apply(t, g, event("NodeUpdated", string(pod(name))))
		check(r, Context{Type: Pod, Name: "default/" + name, Legacy: LegacyName("default/" + name)})
		apply(t, g, event("NodeDeleted", `{"ID":"p","Metadata":{}}`))
		check(r, Context{Type: Container, Name: fmt.Sprintf("c-%d-%s", r, pad)})
		apply(t, g, event("EdgeDeleted", `{"ID":"e-ns-c","Parent":"ns","Child":"c"}`))
		check(r, none)
		apply(t, g, event("NodeDeleted", `{"ID":"c","Metadata":{}}`), event("NodeDeleted", `{"ID":"ns","Metadata":{}}`),
			event("NodeDeleted", `{"ID":"veth","Metadata":{}}`))
		if err := consistent(g.s); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if nodes, edges := g.Len(); nodes != 2 || edges != 1 {
			t.Fatalf("round %d: %d nodes and %d edges left, want 2 and 1", r, nodes, edges)
		}
	}
	s := g.s
	if len(s.nodes) > 6 || len(s.links) > 3 || len(s.arena) > 3<<20 || len(s.dangling) > 0 {
		t.Errorf("grew: %d places, %d links, %d bytes of arena, %d dangling edges", len(s.nodes), len(s.links), len(s.arena), len(s.dangling))
	}
	if got := resolve(g, "192.0.2.1", ""); got != (Context{Type: Host, Name: "node-1"}) {
		t.Errorf("the host after the churn: %+v", got)
	}
}

// TestPointerFree: the mirror's nodes, links and indexes hold nothing
// that the garbage collector must follow, whatever the graph's size.
func TestPointerFree(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	g := replay(t, lines, len(lines))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 20000 {
		apply(t, g, event("NodeAdded", fmt.Sprintf(`{"ID":"n%d","Metadata":{"Type":"veth","TID":"t%d","IPV4":["10.%d.%d.%d/8"]}}`,
			i, i, i>>16, i>>8&255, i&255)))
		if i > 0 {
			apply(t, g, event("EdgeAdded", fmt.Sprintf(`{"ID":"e%d","Parent":"n%d","Child":"n%d"}`, i, i-1, i)))
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if objects := int64(after.HeapObjects) - int64(before.HeapObjects); objects > 1000 {
		t.Errorf("20 000 nodes and edges hold %d objects", objects)
	}
	runtime.KeepAlive(g)
}
