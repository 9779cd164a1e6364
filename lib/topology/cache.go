package topology

import "fmt"

// Cache answers lookups for one goroutine, from what it asked before
// until the graph changes, and counts them for a summary.
type Cache struct {
	G                           *Graph
	gen                         uint64
	addrs                       map[string]*Context // answers that hold whatever the capture node, by address as the flows write it; nil: none
	types                       map[string]string   // capture nodes' Types by TID
	resolved, unresolved, early int64
}

// maxCached bounds the answers kept.
const maxCached = 1 << 16

// Flow resolves both ends of a flow captured at the node whose TID is
// captureTID, nil where none answers, and gives that node's Type.
func (c *Cache) Flow(a, b, captureTID string) (ends [2]*Context, nodeType string) {
	if !c.G.Synced() {
		c.early += 2
		return ends, ""
	}
	c.fresh()
	for i, text := range [2]string{a, b} {
		if ends[i] = c.resolve(text, captureTID); ends[i] != nil {
			c.resolved++
		} else {
			c.unresolved++
		}
	}
	return ends, c.nodeType(captureTID)
}

// fresh forgets the answers of another graph, or too many.
func (c *Cache) fresh() {
	if gen := c.G.Generation(); gen != c.gen || c.addrs == nil || len(c.addrs) > maxCached || len(c.types) > maxCached {
		c.gen, c.addrs, c.types = gen, map[string]*Context{}, map[string]string{}
	}
}

// NodeType is G.NodeType, remembered.
func (c *Cache) NodeType(tid string) string {
	c.fresh()
	return c.nodeType(tid)
}

func (c *Cache) nodeType(tid string) string {
	t, ok := c.types[tid]
	if !ok {
		t = c.G.NodeType(tid)
		c.types[tid] = t
	}
	return t
}

func (c *Cache) resolve(text, captureTID string) *Context {
	if ctx, hit := c.addrs[text]; hit {
		return ctx
	}
	addr, ok := parseAddr(text)
	if !ok {
		return nil
	}
	ctx, ok, general := c.G.resolveAddr(addr, captureTID)
	var answer *Context
	if ok {
		answer = compact(ctx)
	}
	if general {
		c.addrs[text] = answer
	}
	return answer
}

// compact copies a context into memory of its own, its strings side by
// side: the answers a stage uses stay together, and in the processor's
// caches, rather than spread over the graph.
func compact(c Context) *Context {
	all := c.Type + c.Name + c.Set + c.Legacy
	n1 := len(c.Type)
	n2 := n1 + len(c.Name)
	n3 := n2 + len(c.Set)
	return &Context{Type: all[:n1], Name: all[n1:n2], Set: all[n2:n3], Legacy: all[n3:]}
}

// Summary says what the lookups found.
func (c *Cache) Summary() string {
	return fmt.Sprintf("topology: %d addresses resolved, %d unresolved, %d before the topology came", c.resolved, c.unresolved, c.early)
}
