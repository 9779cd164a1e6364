package topology

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
)

// The mirror holds no pointer for the garbage collector to follow: nodes
// are numbered places in one slice, their strings and lists bytes of one
// arena, ids hashed, addresses 16 bytes, edges links in one slice. A
// 100 000-node graph is then a few large objects that the collector never
// scans, rather than millions of pointers that it marks at every cycle of
// a stage that allocates for each flow.

// key stands for an id: its 128-bit hash with seeds of this process (the
// zero key for no id). Two ids of a 100 000-node graph share a key with a
// chance of about 2^-95.
type key [2]uint64

var seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(id string) key {
	if id == "" {
		return key{}
	}
	return key{maphash.String(seeds[0], id), maphash.String(seeds[1], id)}
}

// bytes is k as 16 bytes, as lists hold it.
func (k key) bytes() (b [16]byte) {
	binary.LittleEndian.PutUint64(b[:], k[0])
	binary.LittleEndian.PutUint64(b[8:], k[1])
	return b
}

// ip is an address in 16 bytes, IPv4 ones mapped; the zero ip is none.
type ip [16]byte

func ipOf(a netip.Addr) ip {
	if !a.IsValid() {
		return ip{}
	}
	return a.As16()
}

func (a ip) addr() netip.Addr { return netip.AddrFrom16(a).Unmap() }

// ref is a node's place in state.nodes, or a link's in state.links.
type ref = int32

const noRef ref = -1

// span is a run of bytes: of the arena for a node's block, of its block
// for the node's strings and lists.
type span struct{ at, n uint32 }

// fields are what the lookups read of a node, as its metadata gives them.
type fields struct {
	id, tid     key
	containerID key // Runc.ContainerID, Docker.ContainerID or Container.ID
	hostsIP     ip  // Runc.Hosts or Container.Hosts
	k8sAddr     ip  // a Kubernetes node's ExternalIP, else InternalIP
	// Strings.
	typ, manager, name, hostname span
	podName, podSet, podLegacy   span // a Kubernetes pod's context
	// Lists, 16 bytes an item.
	ipv4          span // its IPV4 list, without the prefix lengths
	src           span // RoutingTables.Src
	podContainers span // keys of a pod's container ids, without their runtime:// prefix
}

// decoded is a node as it came: its fields and the bytes of their spans.
type decoded struct {
	fields
	data []byte
}

// node is a node of the mirror.
type node struct {
	fields
	block             span // its bytes in the arena
	parents, children chain
	pod               ref // a container's pod, kept by the index
}

// chain lists a node's parents or children, as links in the order they
// came.
type chain struct{ first, last ref }

var emptyChain = chain{noRef, noRef}

// link is an edge between two nodes of the mirror, in a chain of each.
type link struct {
	id                    key
	parent, child         ref
	nextChild, nextParent ref // in the parent's children, in the child's parents
}

func (l *link) childNext() *ref  { return &l.nextChild }
func (l *link) parentNext() *ref { return &l.nextParent }

// edge is an edge as it came: the ids of its ends.
type edge struct{ parent, child key }

// multi indexes nodes by a value that most often one node holds: that
// one is kept in a map of plain values, the others, rare, apart.
type multi[K comparable] struct {
	first map[K]ref
	more  map[K][]ref
}

func newMulti[K comparable]() multi[K] { return multi[K]{first: map[K]ref{}, more: map[K][]ref{}} }

func (m *multi[K]) add(k K, n ref) {
	if _, ok := m.first[k]; !ok {
		m.first[k] = n
	} else {
		m.more[k] = append(m.more[k], n)
	}
}

func (m *multi[K]) remove(k K, n ref) {
	more := m.more[k]
	if f, ok := m.first[k]; ok && f == n {
		if len(more) == 0 {
			delete(m.first, k)
			return
		}
		m.first[k], more = more[0], more[1:]
	} else if i := slices.Index(more, n); i >= 0 {
		more = slices.Delete(more, i, i+1)
	}
	if len(more) > 0 {
		m.more[k] = more
	} else {
		delete(m.more, k)
	}
}

// appendTo appends the nodes of k to list, first come first.
func (m *multi[K]) appendTo(list []ref, k K) []ref {
	if n, ok := m.first[k]; ok {
		list = append(list, n)
		list = append(list, m.more[k]...)
	}
	return list
}

// single reports whether at most one node holds k.
func (m *multi[K]) single(k K) bool { return len(m.more[k]) == 0 }

// state is one picture of the graph and its indexes.
type state struct {
	nodes     []node
	free      []ref
	arena     []byte // the nodes' blocks
	garbage   int    // bytes of the arena no node holds
	links     []link
	freeLinks []ref
	ids       map[key]ref
	edges     map[key]edge
	dangling  map[key]bool // edges that came before one of their nodes
	byTID     map[key]ref
	byHostsIP multi[ip]  // runc containers by address
	byIPv4    multi[ip]  // interfaces by address
	bySrc     multi[ip]  // interfaces by routing source address
	byCID     multi[key] // containers by id
	pods      map[key]ref
	k8sNodes  map[ref]bool
}

func newState() *state {
	return &state{ids: map[key]ref{}, edges: map[key]edge{}, dangling: map[key]bool{}, byTID: map[key]ref{},
		byHostsIP: newMulti[ip](), byIPv4: newMulti[ip](), bySrc: newMulti[ip](), byCID: newMulti[key](),
		pods: map[key]ref{}, k8sNodes: map[ref]bool{}}
}

// block is a node's bytes.
func (s *state) block(n *node) []byte { return s.arena[n.block.at : n.block.at+n.block.n] }

// bytes are the bytes of a node's span.
func (s *state) bytes(n *node, sp span) []byte { return s.block(n)[sp.at : sp.at+sp.n] }

// is reports whether a node's string is v.
func (s *state) is(n *node, sp span, v string) bool { return string(s.bytes(n, sp)) == v }

func (s *state) str(n *node, sp span) string { return string(s.bytes(n, sp)) }

// ips calls f for each address of a node's list.
func (s *state) ips(n *node, sp span, f func(ip)) {
	for b := s.bytes(n, sp); len(b) >= 16; b = b[16:] {
		f(ip(b[:16]))
	}
}

// keys calls f for each key of a node's list.
func (s *state) keys(n *node, sp span, f func(key)) {
	for b := s.bytes(n, sp); len(b) >= 16; b = b[16:] {
		f(key{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])})
	}
}

// store puts a block in the arena, first made anew without the blocks no
// node holds when they are most of it.
func (s *state) store(data []byte) span {
	if s.garbage > 1<<20 && s.garbage > len(s.arena)/2 {
		arena := make([]byte, 0, len(s.arena)-s.garbage+len(data))
		for i := range s.nodes {
			n := &s.nodes[i]
			at := len(arena)
			arena = append(arena, s.block(n)...)
			n.block.at = uint32(at)
		}
		s.arena, s.garbage = arena, 0
	}
	at := len(s.arena)
	s.arena = append(s.arena, data...)
	return span{uint32(at), uint32(len(data))}
}

// same reports whether a node holds what d does.
func (s *state) same(n *node, d *decoded) bool {
	return n.fields == d.fields && bytes.Equal(s.block(n), d.data)
}

// node is the node with id k, nil if none.
func (s *state) node(k key) *node {
	if r, ok := s.ids[k]; ok {
		return &s.nodes[r]
	}
	return nil
}

// at is the node at r, nil for noRef.
func (s *state) at(r ref) *node {
	if r == noRef {
		return nil
	}
	return &s.nodes[r]
}

func (s *state) addNode(d *decoded) {
	if r, ok := s.ids[d.id]; ok {
		s.unindex(r)
		n := &s.nodes[r]
		s.garbage += int(n.block.n)
		n.block = span{} // garbage now: not kept should store make the arena anew
		n.fields, n.block = d.fields, s.store(d.data)
		s.index(r)
		return
	}
	r := place(&s.nodes, &s.free)
	s.nodes[r] = node{fields: d.fields, block: s.store(d.data), parents: emptyChain, children: emptyChain, pod: noRef}
	s.ids[d.id] = r
	s.index(r)
	for id := range s.dangling {
		if e := s.edges[id]; e.parent == d.id || e.child == d.id {
			delete(s.dangling, id)
			s.addEdge(id, e)
		}
	}
}

// place is a free place of list, or a new one at its end.
func place[T any](list *[]T, free *[]ref) ref {
	if k := len(*free); k > 0 {
		r := (*free)[k-1]
		*free = (*free)[:k-1]
		return r
	}
	var zero T
	*list = append(*list, zero)
	return ref(len(*list) - 1)
}

// deleteNode removes the node with id k and its edges.
func (s *state) deleteNode(k key) bool {
	r, ok := s.ids[k]
	if !ok {
		return false
	}
	var edges []key
	for l := s.nodes[r].children.first; l != noRef; l = s.links[l].nextChild {
		edges = append(edges, s.links[l].id)
	}
	for l := s.nodes[r].parents.first; l != noRef; l = s.links[l].nextParent {
		edges = append(edges, s.links[l].id)
	}
	for id := range s.dangling {
		if e := s.edges[id]; e.parent == k || e.child == k {
			edges = append(edges, id)
		}
	}
	for _, id := range edges {
		s.deleteEdge(id)
	}
	s.unindex(r)
	delete(s.ids, k)
	s.garbage += int(s.nodes[r].block.n)
	s.nodes[r] = node{}
	s.free = append(s.free, r)
	return true
}

func (s *state) addEdge(id key, e edge) {
	s.edges[id] = e
	p, pok := s.ids[e.parent]
	c, cok := s.ids[e.child]
	if !pok || !cok {
		s.dangling[id] = true
		return
	}
	l := place(&s.links, &s.freeLinks)
	s.links[l] = link{id: id, parent: p, child: c, nextChild: noRef, nextParent: noRef}
	s.push(&s.nodes[p].children, l, (*link).childNext)
	s.push(&s.nodes[c].parents, l, (*link).parentNext)
}

func (s *state) deleteEdge(id key) {
	e, ok := s.edges[id]
	if !ok {
		return
	}
	delete(s.edges, id)
	if s.dangling[id] {
		delete(s.dangling, id)
		return
	}
	p, c := s.ids[e.parent], s.ids[e.child]
	if l := s.unlink(&s.nodes[p].children, id, (*link).childNext); l != noRef {
		s.unlink(&s.nodes[c].parents, id, (*link).parentNext)
		s.freeLinks = append(s.freeLinks, l)
	}
}

// push adds link l at the end of chain c, whose links follow each other
// by next.
func (s *state) push(c *chain, l ref, next func(*link) *ref) {
	if c.last == noRef {
		c.first = l
	} else {
		*next(&s.links[c.last]) = l
	}
	c.last = l
}

// unlink takes the link of edge id out of chain c and gives its place.
func (s *state) unlink(c *chain, id key, next func(*link) *ref) ref {
	prev := noRef
	for l := c.first; l != noRef; prev, l = l, *next(&s.links[l]) {
		if s.links[l].id != id {
			continue
		}
		after := *next(&s.links[l])
		if prev == noRef {
			c.first = after
		} else {
			*next(&s.links[prev]) = after
		}
		if c.last == l {
			c.last = prev
		}
		return l
	}
	return noRef
}

func (s *state) index(r ref) {
	n := &s.nodes[r]
	if n.tid != (key{}) {
		s.byTID[n.tid] = r
	}
	if n.hostsIP != (ip{}) {
		s.byHostsIP.add(n.hostsIP, r)
	}
	s.ips(n, n.ipv4, func(a ip) { s.byIPv4.add(a, r) })
	s.ips(n, n.src, func(a ip) { s.bySrc.add(a, r) })
	if n.containerID != (key{}) {
		s.byCID.add(n.containerID, r)
		n.pod = noRef
		if p, ok := s.pods[n.containerID]; ok {
			n.pod = p
		}
	}
	s.keys(n, n.podContainers, func(id key) {
		s.pods[id] = r
		var buf [4]ref
		for _, c := range s.byCID.appendTo(buf[:0], id) {
			s.nodes[c].pod = r
		}
	})
	if n.k8sAddr != (ip{}) {
		s.k8sNodes[r] = true
	}
}

func (s *state) unindex(r ref) {
	n := &s.nodes[r]
	if t, ok := s.byTID[n.tid]; ok && t == r {
		delete(s.byTID, n.tid)
	}
	if n.hostsIP != (ip{}) {
		s.byHostsIP.remove(n.hostsIP, r)
	}
	s.ips(n, n.ipv4, func(a ip) { s.byIPv4.remove(a, r) })
	s.ips(n, n.src, func(a ip) { s.bySrc.remove(a, r) })
	if n.containerID != (key{}) {
		s.byCID.remove(n.containerID, r)
		n.pod = noRef
	}
	s.keys(n, n.podContainers, func(id key) {
		if p, ok := s.pods[id]; ok && p == r {
			delete(s.pods, id)
		}
		var buf [4]ref
		for _, c := range s.byCID.appendTo(buf[:0], id) {
			if s.nodes[c].pod == r {
				s.nodes[c].pod = noRef
			}
		}
	})
	delete(s.k8sNodes, r)
}

func (s *state) resolve(addr ip, from ref) (Context, bool) {
	var buf [8]ref
	if n := s.at(s.closest(s.byHostsIP.appendTo(buf[:0], addr), from)); n != nil {
		name := n.hostname
		if name.n == 0 {
			name = n.name
		}
		return s.container(n, name), true
	}
	if iface := s.at(s.closest(s.byIPv4.appendTo(buf[:0], addr), from)); iface != nil {
		for l := iface.parents.first; l != noRef; l = s.links[l].nextParent {
			ns := &s.nodes[s.links[l].parent]
			if !s.is(ns, ns.typ, "netns") {
				continue
			}
			for m := ns.children.first; m != noRef; m = s.links[m].nextChild {
				if ct := &s.nodes[s.links[m].child]; s.is(ct, ct.typ, "container") && !s.is(ct, ct.manager, "k8s") {
					return s.container(ct, ct.name), true
				}
			}
		}
	}
	for _, i := range s.bySrc.appendTo(buf[:0], addr) {
		for l := s.nodes[i].parents.first; l != noRef; l = s.links[l].nextParent {
			if h := &s.nodes[s.links[l].parent]; s.is(h, h.typ, "host") {
				return Context{Type: Host, Name: s.str(h, h.name)}, true
			}
		}
	}
	return Context{}, false
}

// container is the context of a container node, named by its string
// name: its pod's, when a pod lists its id.
func (s *state) container(n *node, name span) Context {
	if p := s.at(n.pod); p != nil {
		return Context{Type: Pod, Name: s.str(p, p.podName), Set: s.str(p, p.podSet), Legacy: s.str(p, p.podLegacy)}
	}
	return Context{Type: Container, Name: s.str(n, name)}
}

// closest is the candidate nearest to from in the graph (edges taken both
// ways); the first one when from is unknown or reaches none of them.
func (s *state) closest(cands []ref, from ref) ref {
	if len(cands) == 0 {
		return noRef
	}
	if len(cands) == 1 || from == noRef {
		return cands[0]
	}
	seen := map[ref]bool{from: true}
	queue := []ref{from}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if slices.Contains(cands, r) {
			return r
		}
		visit := func(m ref) {
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
		for l := s.nodes[r].parents.first; l != noRef; l = s.links[l].nextParent {
			visit(s.links[l].parent)
		}
		for l := s.nodes[r].children.first; l != noRef; l = s.links[l].nextChild {
			visit(s.links[l].child)
		}
	}
	return cands[0]
}

// capture is the node whose TID is tid, noRef if none.
func (s *state) capture(tid string) ref {
	if r, ok := s.byTID[keyOf(tid)]; ok {
		return r
	}
	return noRef
}
