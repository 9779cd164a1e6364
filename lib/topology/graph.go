// Package topology mirrors a Skydive Analyzer's topology graph and tells
// who is behind an address: the pod, container or host, resolved locally
// from an index, with no round trip per flow.
package topology

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Context is who is behind one end of a flow.
type Context struct {
	Type string `json:"Type"`          // pod, container or host
	Name string `json:"Name"`          // namespace/pod, container or host name
	Set  string `json:"Set,omitempty"` // a pod's owner, Kind:namespace/name
	// Legacy is a pod's name as the original's Network.A_Name and B_Name
	// gave it (LegacyName), made once.
	Legacy string `json:"-" parquet:"-"`
	enc    string // the context as JSON, made once by the cache
}

// Context types.
const (
	Pod       = "pod"
	Container = "container"
	Host      = "host"
)

// Graph is a live mirror of the topology, safe for concurrent use: one
// writer (the subscription) and any number of readers.
type Graph struct {
	mu       sync.RWMutex
	s        *state
	syncs    atomic.Int64  // whole pictures received
	first    chan struct{} // closed by the first
	gen      atomic.Uint64 // bumped by every change that alters a lookup
	onChange func(*Graph)
}

// NewGraph returns an empty graph; onChange, if not nil, is called after
// each change that alters a lookup, on the writer's goroutine.
func NewGraph(onChange func(*Graph)) *Graph {
	return &Graph{s: newState(), onChange: onChange, first: make(chan struct{})}
}

// Synced reports whether a whole picture of the topology has come.
func (g *Graph) Synced() bool { return g.syncs.Load() > 0 }

// Generation changes whenever a lookup may answer differently.
func (g *Graph) Generation() uint64 { return g.gen.Load() }

func (g *Graph) changed() {
	g.gen.Add(1)
	if g.onChange != nil {
		g.onChange(g)
	}
}

// Len is the number of nodes and edges held.
func (g *Graph) Len() (nodes, edges int) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.s.ids), len(g.s.edges)
}

// replace swaps the whole picture for s.
func (g *Graph) replace(s *state) {
	g.mu.Lock()
	g.s = s
	g.mu.Unlock()
	if g.syncs.Add(1) == 1 {
		close(g.first)
	}
	g.changed()
}

// SetNode adds a node or replaces its metadata.
func (g *Graph) SetNode(n *decoded) {
	g.mu.Lock()
	if old := g.s.node(n.id); old != nil && g.s.same(old, n) {
		g.mu.Unlock()
		return // the no-change refreshes of capturing interfaces
	}
	g.s.addNode(n)
	g.mu.Unlock()
	g.changed()
}

// DeleteNode removes a node and its edges.
func (g *Graph) DeleteNode(id string) {
	g.mu.Lock()
	ok := g.s.deleteNode(keyOf(id))
	g.mu.Unlock()
	if ok {
		g.changed()
	}
}

// SetEdge adds an edge; an edge's ends never change.
func (g *Graph) SetEdge(id string, e edge) {
	k := keyOf(id)
	g.mu.Lock()
	if _, ok := g.s.edges[k]; ok {
		g.mu.Unlock()
		return
	}
	g.s.addEdge(k, e)
	g.mu.Unlock()
	g.changed()
}

// DeleteEdge removes an edge.
func (g *Graph) DeleteEdge(id string) {
	k := keyOf(id)
	g.mu.Lock()
	_, ok := g.s.edges[k]
	g.s.deleteEdge(k)
	g.mu.Unlock()
	if ok {
		g.changed()
	}
}

// Resolve tells who is behind addr, seen from the capture node whose TID
// is captureTID, as the original exporter's resolvers did, first answer
// wins: a runc container that lists the address in its hosts; the
// container in the network namespace of the interface that holds it; the
// host of the interface whose routing source it is. A container is named
// by its pod when a pod lists its id. ok is false when none answers.
func (g *Graph) Resolve(addr, captureTID string) (c Context, ok bool) {
	a, ok := parseAddr(addr)
	if !ok {
		return Context{}, false
	}
	c, ok, _ = g.resolveAddr(a, captureTID)
	return c, ok
}

// resolveAddr is Resolve for a parsed address; general tells whether the
// answer holds whatever the capture node (no choice among candidates).
func (g *Graph) resolveAddr(addr netip.Addr, captureTID string) (c Context, ok, general bool) {
	a := ipOf(addr)
	g.mu.RLock()
	defer g.mu.RUnlock()
	s := g.s
	general = s.byHostsIP.single(a) && s.byIPv4.single(a)
	c, ok = s.resolve(a, s.capture(captureTID))
	return c, ok, general
}

// NodeType is the Type of the node whose TID is tid.
func (g *Graph) NodeType(tid string) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if n := g.s.at(g.s.capture(tid)); n != nil {
		return g.s.str(n, n.typ)
	}
	return ""
}

// Addresses are the addresses of the node whose TID is tid (its IPV4
// list); ok is false when the node is unknown.
func (g *Graph) Addresses(tid string) (addrs []netip.Prefix, ok bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.s.at(g.s.capture(tid))
	if n == nil {
		return nil, false
	}
	g.s.ips(n, n.ipv4, func(a ip) {
		addr := a.addr()
		addrs = append(addrs, netip.PrefixFrom(addr, addr.BitLen()))
	})
	return addrs, true
}

// ClusterNodes are the Kubernetes nodes' addresses, each a /32 (or /128),
// sorted.
func (g *Graph) ClusterNodes() []netip.Prefix {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []netip.Prefix
	for r := range g.s.k8sNodes {
		a := g.s.nodes[r].k8sAddr.addr()
		if p := netip.PrefixFrom(a, a.BitLen()); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// LegacyName is the original's Network.A_Name / B_Name of a pod:
// 0_0_<name with every character outside [A-Za-z0-9.-] made '-'>_0.
func LegacyName(name string) string {
	var b strings.Builder
	b.WriteString("0_0_")
	for _, r := range name {
		if r < 128 && (r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	b.WriteString("_0")
	return b.String()
}
