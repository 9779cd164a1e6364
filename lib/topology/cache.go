package topology

import (
	"fmt"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Cache answers lookups for one goroutine, from what it asked before
// until the graph changes, and counts them for a summary. Its tables are
// keyed by the hash of the text asked (no string to compare) and hold the
// answers themselves.
type Cache struct {
	G                           *Graph
	gen                         uint64
	addrs                       *table[Context] // answers that hold whatever the capture node, by address as the flows write it; a zero Context: none
	types                       *table[string]  // capture nodes' Types by TID
	resolved, unresolved, early int64
	touched                     uint64  // what peek and Prefetch read, kept so that the reads stay
	ahead                       []ahead // the flows Prefetch read ahead
	next                        int     // the first of them Flow has not asked for
}

// maxCached bounds the answers kept.
const maxCached = 1 << 16

// Flow resolves both ends of a flow captured at the node whose TID is
// captureTID, nil where none answers, and gives that node's Type. The
// contexts are the cache's: they must not be changed.
func (c *Cache) Flow(a, b, captureTID string) (ends [2]*Context, nodeType string) {
	if !c.G.Synced() {
		c.early += 2
		return ends, ""
	}
	c.fresh()
	// The places of the three answers are read together, so that the
	// processor waits for memory once rather than three times in a row.
	k := c.keys(a, b, captureTID)
	ka, kb, kt := k[0], k[1], k[2]
	c.touched += c.addrs.peek(ka) + c.addrs.peek(kb) + c.types.peek(kt)
	ends[0], ends[1] = c.resolve(a, ka, captureTID), c.resolve(b, kb, captureTID)
	for _, e := range ends {
		if e != nil {
			c.resolved++
		} else {
			c.unresolved++
		}
	}
	return ends, c.nodeType(kt, captureTID)
}

// Prefetch reads ahead, for n flows about to be asked of Flow (flow gives
// the i-th, ok false for one without addresses), the places of their
// answers, then what the answers point to: many reads of memory at once,
// so that Flow finds them in the processor's caches rather than waiting
// for each in turn.
func (c *Cache) Prefetch(n int, flow func(i int) (a, b, captureTID string, ok bool)) {
	if !c.G.Synced() {
		return
	}
	c.fresh()
	// Hashes first, then the reads alone, in loops short enough for the
	// processor to have many of them under way at once.
	c.ahead, c.next = c.ahead[:0], 0
	for i := range n {
		if a, b, tid, ok := flow(i); ok {
			c.ahead = append(c.ahead, ahead{a, b, tid, [3]key{keyOf(a), keyOf(b), keyOf(tid)}})
		}
	}
	for i := range c.ahead {
		k := &c.ahead[i].keys
		c.touched += c.addrs.peek(k[0]) + c.addrs.peek(k[1])
	}
	for i := range c.ahead {
		c.touched += c.types.peek(c.ahead[i].keys[2])
	}
	for i := range c.ahead {
		for _, k := range c.ahead[i].keys[:2] {
			if ctx := c.addrs.get(k); ctx != nil {
				c.touched += touch(ctx.Legacy) + touch(ctx.enc)
			}
		}
	}
}

// ahead is a flow Prefetch read ahead and its keys, which Flow takes
// rather than hash again.
type ahead struct {
	a, b, captureTID string
	keys             [3]key
}

// keys are the keys of a flow's addresses and capture node: Prefetch's,
// when this is the flow it read ahead next (the same strings).
func (c *Cache) keys(a, b, captureTID string) [3]key {
	if c.next < len(c.ahead) {
		if x := &c.ahead[c.next]; x.a == a && x.b == b && x.captureTID == captureTID {
			c.next++
			return x.keys
		}
	}
	return [3]key{keyOf(a), keyOf(b), keyOf(captureTID)}
}

// fresh forgets the answers of another graph, or too many.
func (c *Cache) fresh() {
	if gen := c.G.Generation(); gen != c.gen || c.addrs == nil || c.addrs.n > maxCached || c.types.n > maxCached {
		c.gen, c.addrs, c.types = gen, &table[Context]{}, &table[string]{}
	}
}

// NodeType is G.NodeType, remembered.
func (c *Cache) NodeType(tid string) string {
	c.fresh()
	return c.nodeType(keyOf(tid), tid)
}

func (c *Cache) nodeType(k key, tid string) string {
	if t := c.types.get(k); t != nil {
		return *t
	}
	t := c.G.NodeType(tid)
	c.types.set(k, t)
	return t
}

// resolve answers for the address text, whose key is k.
func (c *Cache) resolve(text string, k key, captureTID string) *Context {
	if ctx := c.addrs.get(k); ctx != nil {
		return found(ctx)
	}
	addr, ok := parseAddr(text)
	if !ok {
		return nil
	}
	ctx, ok, general := c.G.resolveAddr(addr, captureTID)
	var compacted Context
	if ok {
		compacted = compact(ctx)
	}
	if !general {
		return found(&compacted)
	}
	c.addrs.set(k, compacted)
	return found(c.addrs.get(k))
}

// found is nil for the zero Context.
func found(c *Context) *Context {
	if c.Type == "" {
		return nil
	}
	return c
}

// compact copies a context into memory of its own, its legacy name then
// its JSON, in the order a record writes them, the strings within the
// JSON where they need no escaping: the answers a stage uses stay small
// and together, rather than spread over the graph.
func compact(c Context) Context {
	b, at := c.appendJSON([]byte(c.Legacy))
	all := string(b)
	in := func(v string, i int) string { // v, as written at i
		if j := i + 1 + len(v); j < len(all) && all[i] == '"' && all[i+1:j] == v && all[j] == '"' {
			return all[i+1 : j]
		}
		return v
	}
	return Context{Legacy: all[:len(c.Legacy)], enc: all[len(c.Legacy):],
		Type: in(c.Type, at[0]), Name: in(c.Name, at[1]), Set: in(c.Set, at[2])}
}

// AppendJSON appends the context as encoding/json writes it.
func (c *Context) AppendJSON(b []byte) []byte {
	if c.enc != "" {
		return append(b, c.enc...)
	}
	b, _ = c.appendJSON(b)
	return b
}

// appendJSON appends the context's JSON and tells where its Type, Name
// and Set were written.
func (c *Context) appendJSON(b []byte) (_ []byte, at [3]int) {
	b = append(b, `{"Type":`...)
	at[0] = len(b)
	b = jsonscan.AppendString(b, c.Type)
	b = append(b, `,"Name":`...)
	at[1] = len(b)
	b = jsonscan.AppendString(b, c.Name)
	at[2] = len(b)
	if c.Set != "" {
		b = append(b, `,"Set":`...)
		at[2] = len(b)
		b = jsonscan.AppendString(b, c.Set)
	}
	return append(b, '}'), at
}

// Summary says what the lookups found.
func (c *Cache) Summary() string {
	return fmt.Sprintf("topology: %d addresses resolved, %d unresolved, %d before the topology came", c.resolved, c.unresolved, c.early)
}

// touch reads a byte of s in each 64 bytes, and its last.
func touch(s string) (sum uint64) {
	for i := 0; i < len(s); i += 64 {
		sum += uint64(s[i])
	}
	if len(s) > 0 {
		sum += uint64(s[len(s)-1])
	}
	return sum
}
