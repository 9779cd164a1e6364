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
}

// Context types.
const (
	Pod       = "pod"
	Container = "container"
	Host      = "host"
)

// node is what the mirror keeps of a graph node: the fields the lookups
// read, not its whole metadata.
type node struct {
	id, tid, typ, name, manager string
	ipv4                        []netip.Addr // its IPV4 list, without the prefix lengths
	src                         []netip.Addr // RoutingTables.Src
	hostsIP                     netip.Addr   // Runc.Hosts or Container.Hosts
	hostname                    string
	containerID                 string     // Runc.ContainerID, Docker.ContainerID or Container.ID
	podCtx                      Context    // a Kubernetes pod's context, made once
	podContainers               []string   // a pod's container ids, without their runtime:// prefix
	k8sAddr                     netip.Addr // a Kubernetes node's ExternalIP, else InternalIP
	parents, children           []*node
	pod                         *node // a container's pod, kept by the index
}

// same reports whether two versions of a node index alike.
func (n *node) same(o *node) bool {
	return n.tid == o.tid && n.typ == o.typ && n.name == o.name && n.manager == o.manager &&
		slices.Equal(n.ipv4, o.ipv4) && slices.Equal(n.src, o.src) && n.hostsIP == o.hostsIP &&
		n.hostname == o.hostname && n.containerID == o.containerID && n.podCtx == o.podCtx &&
		slices.Equal(n.podContainers, o.podContainers) && n.k8sAddr == o.k8sAddr
}

type edge struct{ parent, child string }

// state is one picture of the graph and its indexes.
type state struct {
	nodes     map[string]*node
	edges     map[string]edge
	byTID     map[string]*node
	byHostsIP map[netip.Addr][]*node // runc containers by address
	byIPv4    map[netip.Addr][]*node // interfaces by address
	bySrc     map[netip.Addr][]*node // interfaces by routing source address
	pods      map[string]*node       // pods by container id
	byCID     map[string][]*node     // containers by id
	k8sNodes  map[*node]bool
	dangling  map[string]bool // edges that came before one of their nodes
}

func newState() *state {
	return &state{nodes: map[string]*node{}, edges: map[string]edge{}, byTID: map[string]*node{},
		byHostsIP: map[netip.Addr][]*node{}, byIPv4: map[netip.Addr][]*node{}, bySrc: map[netip.Addr][]*node{},
		pods: map[string]*node{}, byCID: map[string][]*node{}, k8sNodes: map[*node]bool{}, dangling: map[string]bool{}}
}

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
	return len(g.s.nodes), len(g.s.edges)
}

// Replace swaps the whole picture for the nodes and edges of a sync.
func (g *Graph) Replace(nodes []*node, edges map[string]edge) {
	s := newState()
	for _, n := range nodes {
		s.addNode(n)
	}
	for id, e := range edges {
		s.addEdge(id, e)
	}
	g.mu.Lock()
	g.s = s
	g.mu.Unlock()
	if g.syncs.Add(1) == 1 {
		close(g.first)
	}
	g.changed()
}

// SetNode adds a node or replaces its metadata.
func (g *Graph) SetNode(n *node) {
	g.mu.Lock()
	if old := g.s.nodes[n.id]; old != nil && old.same(n) {
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
	n := g.s.nodes[id]
	if n == nil {
		g.mu.Unlock()
		return
	}
	for eid, e := range g.s.edges {
		if e.parent == id || e.child == id {
			g.s.deleteEdge(eid)
		}
	}
	g.s.unindex(n)
	delete(g.s.nodes, id)
	g.mu.Unlock()
	g.changed()
}

// SetEdge adds an edge; an edge's ends never change.
func (g *Graph) SetEdge(id string, e edge) {
	g.mu.Lock()
	if _, ok := g.s.edges[id]; ok {
		g.mu.Unlock()
		return
	}
	g.s.addEdge(id, e)
	g.mu.Unlock()
	g.changed()
}

// DeleteEdge removes an edge.
func (g *Graph) DeleteEdge(id string) {
	g.mu.Lock()
	_, ok := g.s.edges[id]
	g.s.deleteEdge(id)
	g.mu.Unlock()
	if ok {
		g.changed()
	}
}

// copyFields takes the metadata of o, keeping the links.
func (n *node) copyFields(o *node) {
	parents, children := n.parents, n.children
	*n = *o
	n.parents, n.children = parents, children
}

func (s *state) addNode(n *node) {
	if old := s.nodes[n.id]; old != nil {
		s.unindex(old)
		old.copyFields(n)
		s.index(old)
		return
	}
	s.nodes[n.id] = n
	s.index(n)
	for id := range s.dangling {
		if e := s.edges[id]; e.parent == n.id || e.child == n.id {
			delete(s.dangling, id)
			s.addEdge(id, e)
		}
	}
}

func (s *state) addEdge(id string, e edge) {
	p, c := s.nodes[e.parent], s.nodes[e.child]
	s.edges[id] = e
	if p == nil || c == nil {
		s.dangling[id] = true
		return
	}
	p.children = append(p.children, c)
	c.parents = append(c.parents, p)
}

func (s *state) deleteEdge(id string) {
	e, ok := s.edges[id]
	if !ok {
		return
	}
	delete(s.edges, id)
	delete(s.dangling, id)
	p, c := s.nodes[e.parent], s.nodes[e.child]
	if p != nil && c != nil {
		p.children = removeOne(p.children, c)
		c.parents = removeOne(c.parents, p)
	}
}

func removeOne(list []*node, n *node) []*node {
	if i := slices.Index(list, n); i >= 0 {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// drop removes n from the list of key.
func drop[K comparable](m map[K][]*node, key K, n *node) {
	if list := removeOne(m[key], n); len(list) > 0 {
		m[key] = list
	} else {
		delete(m, key)
	}
}

func (s *state) index(n *node) {
	if n.tid != "" {
		s.byTID[n.tid] = n
	}
	if n.hostsIP.IsValid() {
		s.byHostsIP[n.hostsIP] = append(s.byHostsIP[n.hostsIP], n)
	}
	for _, a := range n.ipv4 {
		s.byIPv4[a] = append(s.byIPv4[a], n)
	}
	for _, a := range n.src {
		if !slices.Contains(s.bySrc[a], n) {
			s.bySrc[a] = append(s.bySrc[a], n)
		}
	}
	if n.containerID != "" {
		s.byCID[n.containerID] = append(s.byCID[n.containerID], n)
		n.pod = s.pods[n.containerID]
	}
	for _, id := range n.podContainers {
		s.pods[id] = n
		for _, c := range s.byCID[id] {
			c.pod = n
		}
	}
	if n.k8sAddr.IsValid() {
		s.k8sNodes[n] = true
	}
}

func (s *state) unindex(n *node) {
	if s.byTID[n.tid] == n {
		delete(s.byTID, n.tid)
	}
	if n.hostsIP.IsValid() {
		drop(s.byHostsIP, n.hostsIP, n)
	}
	for _, a := range n.ipv4 {
		drop(s.byIPv4, a, n)
	}
	for _, a := range n.src {
		drop(s.bySrc, a, n)
	}
	if n.containerID != "" {
		drop(s.byCID, n.containerID, n)
		n.pod = nil
	}
	for _, id := range n.podContainers {
		if s.pods[id] == n {
			delete(s.pods, id)
		}
		for _, c := range s.byCID[id] {
			if c.pod == n {
				c.pod = nil
			}
		}
	}
	delete(s.k8sNodes, n)
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
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.s.resolve(a, g.s.byTID[captureTID])
}

// resolveAddr is Resolve for a parsed address; general tells whether the
// answer holds whatever the capture node (no choice among candidates).
func (g *Graph) resolveAddr(addr netip.Addr, captureTID string) (c Context, ok, general bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	s := g.s
	general = len(s.byHostsIP[addr]) <= 1 && len(s.byIPv4[addr]) <= 1
	c, ok = s.resolve(addr, s.byTID[captureTID])
	return c, ok, general
}

func (s *state) resolve(addr netip.Addr, from *node) (Context, bool) {
	if n := closest(s.byHostsIP[addr], from); n != nil {
		name := n.hostname
		if name == "" {
			name = n.name
		}
		return s.container(n, name), true
	}
	if iface := closest(s.byIPv4[addr], from); iface != nil {
		for _, ns := range iface.parents {
			if ns.typ != "netns" {
				continue
			}
			for _, ct := range ns.children {
				if ct.typ == "container" && ct.manager != "k8s" {
					return s.container(ct, ct.name), true
				}
			}
		}
	}
	for _, iface := range s.bySrc[addr] {
		for _, h := range iface.parents {
			if h.typ == "host" {
				return Context{Type: Host, Name: h.name}, true
			}
		}
	}
	return Context{}, false
}

// container is the context of a container node: its pod's, when a pod
// lists its id.
func (s *state) container(n *node, name string) Context {
	if p := n.pod; p != nil {
		return p.podCtx
	}
	return Context{Type: Container, Name: name}
}

// closest is the candidate nearest to from in the graph (edges taken both
// ways); the first one when from is unknown or reaches none of them.
func closest(cands []*node, from *node) *node {
	if len(cands) <= 1 || from == nil {
		if len(cands) == 0 {
			return nil
		}
		return cands[0]
	}
	seen := map[*node]bool{from: true}
	queue := []*node{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if slices.Contains(cands, n) {
			return n
		}
		for _, list := range [2][]*node{n.parents, n.children} {
			for _, m := range list {
				if !seen[m] {
					seen[m] = true
					queue = append(queue, m)
				}
			}
		}
	}
	return cands[0]
}

// NodeType is the Type of the node whose TID is tid.
func (g *Graph) NodeType(tid string) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if n := g.s.byTID[tid]; n != nil {
		return n.typ
	}
	return ""
}

// Addresses are the addresses of the node whose TID is tid (its IPV4
// list); ok is false when the node is unknown.
func (g *Graph) Addresses(tid string) (addrs []netip.Prefix, ok bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.s.byTID[tid]
	if n == nil {
		return nil, false
	}
	for _, a := range n.ipv4 {
		addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()))
	}
	return addrs, true
}

// ClusterNodes are the Kubernetes nodes' addresses, each a /32 (or /128),
// sorted.
func (g *Graph) ClusterNodes() []netip.Prefix {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []netip.Prefix
	for n := range g.s.k8sNodes {
		if p := netip.PrefixFrom(n.k8sAddr, n.k8sAddr.BitLen()); !slices.Contains(out, p) {
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
