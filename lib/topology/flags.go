package topology

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/analyzer"
)

// Flags are the flags of a tool that follows the topology, beside the
// switch that turns it on.
func Flags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "analyzer", Aliases: []string{"a"}, Value: cli.NewStringSlice("ws://127.0.0.1:8082"), EnvVars: []string{"SKY_ANALYZER"},
			Usage: "topology: analyzer `URL` (ws://, wss://, host:port); several are tried in turn, as each holds the whole topology"},
		&cli.DurationFlag{Name: "topology-wait", Value: 5 * time.Second, EnvVars: []string{"SKY_TOPOLOGY_WAIT"},
			Usage: "topology: wait at most `DURATION` at start for the topology; records go out unenriched until it comes"},
		&cli.DurationFlag{Name: "topology-timeout", Value: 2 * time.Second, EnvVars: []string{"SKY_TOPOLOGY_TIMEOUT"},
			Usage: "topology: give up a Gremlin query (--extend) after `DURATION`; after a failure, queries pause 5s"},
	}, analyzer.ClientFlags()...)
}

// Live is a graph kept current from the analyzer, and a querier for it.
type Live struct {
	Graph   *Graph
	Querier *Querier
	stop    context.CancelFunc
	done    chan struct{}
}

// Start follows the topology of the analyzers the flags name, and waits
// for it at most --topology-wait.
func Start(c *cli.Context, name string, onChange func(*Graph), logf func(string, ...any)) (*Live, error) {
	src := &Source{ReadTimeout: 15 * time.Second, MaxBackoff: 30 * time.Second, Logf: logf}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	src.Options = analyzer.Options{HostID: host + "-" + name + "-topology-" + strconv.Itoa(os.Getpid()),
		ClientType: "skyflows", Timeout: 10 * time.Second}
	if err := analyzer.FromFlags(c, &src.Options); err != nil {
		return nil, err
	}
	for _, a := range c.StringSlice("analyzer") {
		u, err := analyzer.Endpoint(a)
		if err != nil {
			return nil, fmt.Errorf("--analyzer: %w", err)
		}
		src.URLs = append(src.URLs, u)
	}
	if len(src.URLs) == 0 {
		return nil, fmt.Errorf("--analyzer: none given")
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &Live{Graph: NewGraph(onChange), stop: stop, done: make(chan struct{}),
		Querier: NewQuerier(src.URLs[0], src.Options, c.Duration("topology-timeout"), 10*time.Minute)}
	go func() {
		defer close(l.done)
		src.Follow(ctx, l.Graph)
	}()
	select {
	case <-l.Graph.first:
	case <-time.After(c.Duration("topology-wait")):
		logf("topology: none yet after %s; records go out unenriched until it comes", c.Duration("topology-wait"))
	}
	return l, nil
}

// Stop ends the subscription.
func (l *Live) Stop() {
	l.stop()
	<-l.done
}

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
// captureTID (nil: unknown), and gives that node's Type.
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
	return ends, c.NodeType(captureTID)
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
	addr, err := netip.ParseAddr(text)
	if err != nil {
		return nil
	}
	addr = addr.Unmap()
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
