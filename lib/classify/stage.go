package classify

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stage"
	"github.com/skyflows/skyflows/lib/topology"
)

// Run is the sky-classify command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	errw = &stage.LockedWriter{W: errw} // the topology's subscription reports too
	// One classifier and one topology for every worker.
	var shared *Classifier
	start := func(c *cli.Context) (func(), error) {
		var err error
		if shared, err = New(c.StringSlice("cluster-net")); err != nil || !c.Bool("autodiscover") {
			return nil, stage.Usage(err)
		}
		logf := func(format string, a ...any) {
			if !c.Bool("quiet") {
				fmt.Fprintf(errw, "sky-classify: "+format+"\n", a...)
			}
		}
		live, err := topology.Start(c, "sky-classify", func(g *topology.Graph) {
			if nodes := g.ClusterNodes(); shared.Discover(nodes) {
				logf("autodiscover: %d Kubernetes node addresses inside the cluster: %v", len(nodes), nodes)
			}
		}, logf)
		if err != nil {
			return nil, err
		}
		return live.Stop, nil
	}
	return stage.Lines{
		Name:     "sky-classify",
		Parallel: true,
		Usage:    "tag each flow ingress, egress, internal or other by the cluster's subnets",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "cluster-net", Value: cli.NewStringSlice(DefaultNets...),
				EnvVars: []string{"SKY_CLUSTER_NETS"},
				Usage:   "a cluster network `CIDR`, IPv4 or IPv6; repeat it or give a comma-separated list"},
			&cli.StringFlag{Name: "tag-field", Value: "Tag", EnvVars: []string{"SKY_TAG_FIELD"},
				Usage: "write the tag into this top-level `FIELD`"},
			&cli.BoolFlag{Name: "autodiscover", EnvVars: []string{"SKY_AUTODISCOVER"},
				Usage: "follow the analyzer's topology: each Kubernetes node's address (ExternalIP, else InternalIP) counts as inside the cluster, kept current"},
		}, topology.Flags()...),
		Start: start,
		Open: func(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			return &tagger{cl: shared, field: c.String("tag-field"), w: w}, nil
		},
	}.Run(args, in, out, errw)
}

type tagger struct {
	cl    *Classifier
	field string
	w     *bufio.Writer
	buf   []byte
	tags  map[string][]byte
}

// Record writes the line with the tag field set; nothing else changes.
func (t *tagger) Record(line []byte) (bool, error) {
	var network []byte
	var networkKind jsonscan.Kind
	var tag jsonscan.Member
	hasTag := false
	closing, err := jsonscan.Members(line, func(m jsonscan.Member) error {
		switch {
		case m.Is("Network"):
			network, networkKind = line[m.Start:m.End], m.Kind
		case m.Is(t.field):
			tag, hasTag = m, true
		}
		return nil
	})
	if err != nil {
		return false, stage.BadInput(fmt.Errorf("decode: %w", err))
	}
	value, err := t.classify(network, networkKind)
	if err != nil {
		return false, stage.BadInput(err)
	}
	var at *jsonscan.Member
	if hasTag {
		at = &tag
	}
	t.buf = jsonscan.AppendSet(t.buf[:0], line, closing, at, t.field, t.quoted(value))
	t.buf = append(t.buf, '\n')
	_, err = t.w.Write(t.buf)
	return true, err
}

// classify tags a record by its Network layer; a flow without one (ARP) or
// without both addresses is other.
func (t *tagger) classify(network []byte, kind jsonscan.Kind) (string, error) {
	if network == nil || kind == jsonscan.Null {
		return Other, nil
	}
	if kind != jsonscan.Object {
		return "", fmt.Errorf("Network: want an object, got %s", kind)
	}
	// One pass over the layer finds both ends.
	var raw [2][]byte
	var kinds [2]jsonscan.Kind
	jsonscan.Members(network, func(m jsonscan.Member) error {
		for i, side := range [2]string{"A", "B"} {
			if m.Is(side) {
				raw[i], kinds[i] = network[m.Start:m.End], m.Kind
			}
		}
		return nil
	})
	var addr [2]netip.Addr
	for i, side := range [2]string{"A", "B"} {
		if raw[i] == nil || kinds[i] == jsonscan.Null {
			return Other, nil
		}
		if kinds[i] != jsonscan.String {
			return "", fmt.Errorf("Network.%s: want a string, got %s", side, kinds[i])
		}
		text := raw[i][1 : len(raw[i])-1]
		if bytes.IndexByte(text, '\\') >= 0 {
			s, err := jsonscan.StringValue(raw[i])
			if err != nil {
				return "", fmt.Errorf("Network.%s: %w", side, err)
			}
			text = []byte(s)
		}
		a, ok := parseAddr(text)
		if !ok {
			return Other, nil
		}
		addr[i] = a
	}
	return t.cl.tag(addr[0], addr[1]), nil
}

func (t *tagger) quoted(tag string) []byte {
	if t.tags == nil {
		t.tags = map[string][]byte{}
	}
	q, ok := t.tags[tag]
	if !ok {
		q = jsonscan.AppendString(nil, tag)
		t.tags[tag] = q
	}
	return q
}

func (t *tagger) Close() error { return nil }
