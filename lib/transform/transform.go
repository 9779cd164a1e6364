// Package transform is the sky-transform command: it turns Skydive flows
// into the records of a target format. Each format is a package of its
// own that registers a Format here.
package transform

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	jsoniter "github.com/json-iterator/go"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/awsflowlogs"
	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/secadvisor"
	"github.com/skyflows/skyflows/lib/stage"
	"github.com/skyflows/skyflows/lib/topology"
	"github.com/skyflows/skyflows/lib/vpclogs"
)

// Transformer makes records of one format from flows.
type Transformer interface {
	// Flow handles one flow and emits its records, if any; an error marks
	// the flow as bad input (a field the format needs is missing).
	Flow(f *flow.Flow, emit func(record any)) error
	// Close emits what is pending at the end of input and returns a
	// summary for stderr, or "".
	Close(emit func(record any)) string
}

// Prefetcher is a transformer that reads ahead, for flows about to come,
// the memory that their Flow will read.
type Prefetcher interface {
	Prefetch(flows []*flow.Flow)
}

// Selective is a transformer that reads only some fields of a flow; the
// others are not decoded, only validated.
type Selective interface {
	Fields() flow.Fields
}

// Format is a target format: its flags and how to make its transformer.
type Format struct {
	Name  string
	Flags func() []cli.Flag // a fresh set for each run: flag values live in them
	New   func(c *cli.Context, topo *topology.Live) (Transformer, error)
}

// formats are the target formats by name; adding one is adding a package
// and a line here.
var formats = map[string]Format{
	"secadvisor": {Name: "secadvisor", Flags: secadvisor.Flags,
		New: func(c *cli.Context, topo *topology.Live) (Transformer, error) { return secadvisor.FromFlags(c, topo) }},
	"awsflowlogs": {Name: "awsflowlogs", Flags: awsflowlogs.Flags,
		New: func(c *cli.Context, _ *topology.Live) (Transformer, error) { return awsflowlogs.FromFlags(c) }},
	"vpclogs": {Name: "vpclogs", Flags: vpclogs.Flags,
		New: func(c *cli.Context, topo *topology.Live) (Transformer, error) { return vpclogs.FromFlags(c, topo) }},
}

func names() []string {
	n := []string{"none"}
	for name := range formats {
		n = append(n, name)
	}
	slices.Sort(n[1:])
	return n
}

// does is what the stage does beyond its records (stage.Lines.Does).
const does = stage.Prepares | stage.Prefetches | stage.Reports

// Run is the sky-transform command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	errw = &stage.LockedWriter{W: errw} // the topology's subscription reports too
	flags := []cli.Flag{
		&cli.StringFlag{Name: "to", Value: "none", EnvVars: []string{"SKY_TRANSFORM"},
			Usage: "target `FORMAT`: " + strings.Join(names(), ", ") + " (none passes records byte for byte)"},
		&cli.StringSliceFlag{Name: "local-ip", EnvVars: []string{"SKY_LOCAL_IPS"},
			Usage: "vpclogs, awsflowlogs: the capture point's `ADDRESS` or CIDR, for each record's direction (repeatable)"},
		&cli.BoolFlag{Name: "enrich", EnvVars: []string{"SKY_ENRICH"},
			Usage: "follow the analyzer's topology: secadvisor records get Context, NodeType and --extend; vpclogs records the direction from the capture node's addresses"},
	}
	flags = append(flags, topology.Flags()...)
	for _, name := range names()[1:] {
		flags = append(flags, formats[name].Flags()...)
	}
	// Flows are decoded on every core (the processor is a stage.Preparer)
	// and transformed in order.
	return stage.Lines{
		Name:  "sky-transform",
		Usage: "turn Skydive flows into secadvisor, AWS VPC flow logs or IBM VPC flow logs records",
		Flags: flags,
		Does:  does,
		Open: func(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			name := c.String("to")
			if name == "none" {
				return passThrough{w}, nil
			}
			f, ok := formats[name]
			if !ok {
				return nil, stage.Usagef("--to: unknown format %q (want one of %s)", name, strings.Join(names(), ", "))
			}
			summary := errw
			if c.Bool("quiet") {
				summary = io.Discard
			}
			var topo *topology.Live
			if c.Bool("enrich") {
				if name == "awsflowlogs" {
					return nil, stage.Usagef("--enrich: awsflowlogs records have no topology fields (use --local-ip)")
				}
				var err error
				topo, err = topology.Start(c, "sky-transform", nil, func(format string, a ...any) {
					fmt.Fprintf(summary, "sky-transform: "+format+"\n", a...)
				})
				if err != nil {
					return nil, err
				}
			}
			t, err := f.New(c, topo)
			if err != nil {
				if topo != nil {
					topo.Stop()
				}
				return nil, stage.Usage(err) // the options of the format
			}
			p := newProcessor(t, w, summary, name)
			p.topo = topo
			return p.staged(), nil
		},
	}.Run(args, in, out, errw)
}

// passThrough writes every valid record as it came.
type passThrough struct{ w *bufio.Writer }

func (p passThrough) Record(line []byte) (bool, error) {
	if err := validObject(line); err != nil {
		return false, stage.BadInput(err)
	}
	p.w.Write(line)
	return true, p.w.WriteByte('\n')
}

func (passThrough) Close() error { return nil }

// validObject checks that line is one JSON object, with the scanner's
// plain error messages.
func validObject(line []byte) error {
	if _, err := jsonscan.Members(line, nil); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// Appender is a record that writes its own JSON, faster than reflection.
type Appender interface {
	AppendJSON(dst []byte) []byte
}

// processor decodes flows, hands them to a transformer and writes the
// records it emits, one JSON object per line.
type processor struct {
	t       Transformer
	w       *bufio.Writer
	errw    io.Writer
	name    string
	buf     []byte
	err     error
	emitted atomic.Int64 // records written; the stats line reads it
	emit    func(any)
	fields  flow.Fields
	topo    *topology.Live // stopped at Close; nil without --enrich
}

func newProcessor(t Transformer, w *bufio.Writer, errw io.Writer, name string) *processor {
	p := &processor{t: t, w: w, errw: errw, name: name, fields: flow.AllFields}
	if s, ok := t.(Selective); ok {
		p.fields = s.Fields()
	}
	p.emit = func(rec any) {
		if a, ok := rec.(Appender); ok {
			p.buf = a.AppendJSON(p.buf[:0])
		} else {
			var err error
			if p.buf, err = jsoniter.ConfigFastest.Marshal(rec); err != nil {
				p.err = err
				return
			}
		}
		p.buf = append(p.buf, '\n')
		if _, err := p.w.Write(p.buf); err != nil {
			p.err = err
		}
		p.emitted.Add(1)
	}
	return p
}

func (p *processor) Record(line []byte) (bool, error) {
	f, err := p.Prepare(line)
	if err != nil {
		return false, stage.BadInput(err)
	}
	return p.Process(f)
}

// staged is p as the stage runs it: a stage.Prefetcher when its
// transformer reads ahead.
func (p *processor) staged() stage.Processor {
	if pf, ok := p.t.(Prefetcher); ok {
		return &prefetching{processor: p, pf: pf}
	}
	return p
}

// prefetching is a processor whose transformer reads ahead.
type prefetching struct {
	*processor
	pf    Prefetcher
	flows []*flow.Flow
}

// Prefetch hands the transformer a chunk's flows before they come.
func (p *prefetching) Prefetch(values []any) {
	p.flows = p.flows[:0]
	for _, v := range values {
		if f, ok := v.(*flow.Flow); ok {
			p.flows = append(p.flows, f)
		}
	}
	p.pf.Prefetch(p.flows)
}

// Prepare decodes a flow; the stage runs it on every core.
func (p *processor) Prepare(line []byte) (any, error) {
	f := new(flow.Flow) // a transformer may keep it
	if err := flow.DecodeFields(line, f, p.fields); err != nil {
		var syntax *jsonscan.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("decode: %w", err)
		}
		return nil, err
	}
	return f, nil
}

// Process hands a decoded flow to the transformer, in input order.
func (p *processor) Process(v any) (bool, error) {
	before := p.emitted.Load()
	err := p.t.Flow(v.(*flow.Flow), p.emit)
	if p.err != nil {
		return false, p.err
	}
	return p.emitted.Load() > before, stage.BadInput(err)
}

// Stats is the stats line, in flows, and the records written: a flow
// makes none (dropped), one, or more (AWS's two directions, secadvisor's
// SKIPDATA and NODATA).
func (p *processor) Stats(lines *stage.Stats) string {
	return fmt.Sprintf("%s records %d", lines, p.emitted.Load())
}

func (p *processor) Close() error {
	if p.topo != nil {
		p.topo.Stop()
	}
	if summary := p.t.Close(p.emit); summary != "" {
		fmt.Fprintf(p.errw, "sky-transform: %s: %s\n", p.name, summary)
	}
	return p.err
}
