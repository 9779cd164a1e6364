package secadvisor

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/topology"
)

// Enricher adds to records who is behind each end (Context, the legacy
// A_Name and B_Name of pods), the Type of the capture node (NodeType),
// and the answers of the --extend queries (Extend).
type Enricher struct {
	Cache   *topology.Cache
	Querier *topology.Querier
	extend  []extension
	buf     bytes.Buffer
	failed  int64 // --extend queries the analyzer did not answer
}

// extension is one --extend NAME=TEMPLATE.
type extension struct {
	name string
	tmpl *template.Template
}

// Extensions are the values of --extend, each taken whole: a query
// holds commas.
type Extensions []string

// Set adds a value.
func (e *Extensions) Set(v string) error {
	*e = append(*e, v)
	return nil
}

func (e *Extensions) String() string { return strings.Join(*e, " ") }

var extendName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseExtend reads --extend values, NAME=TEMPLATE, a Go template over
// the record that gives a Gremlin query; a value given twice counts once.
func (e *Enricher) ParseExtend(values []string) error {
	given := map[string]string{}
	for _, v := range values {
		name, text, ok := strings.Cut(v, "=")
		if !ok || !extendName.MatchString(name) {
			return fmt.Errorf("--extend %q: want NAME=TEMPLATE, NAME of letters, digits, '_', '.' or '-'", v)
		}
		if prev, dup := given[name]; dup {
			if prev != text {
				return fmt.Errorf("--extend %s: given twice", name)
			}
			continue
		}
		given[name] = text
		t, err := template.New(name).Option("missingkey=error").Parse(text)
		if err != nil {
			return fmt.Errorf("--extend %s: %w", name, err)
		}
		e.extend = append(e.extend, extension{name, t})
	}
	return nil
}

// enrich fills the topology fields of a flow's record.
func (e *Enricher) enrich(rec *Record, f *flow.Flow) {
	if f.Network == nil {
		rec.NodeType = e.Cache.NodeType(f.NodeTID)
	} else {
		var ends [2]*topology.Context
		ends, rec.NodeType = e.Cache.Flow(f.Network.A, f.Network.B, f.NodeTID)
		if ends[0] != nil || ends[1] != nil {
			rec.peers = Peers{A: ends[0], B: ends[1]}
			rec.Context = &rec.peers
		}
		if ends[0] != nil {
			rec.Network.AName = ends[0].Legacy
		}
		if ends[1] != nil {
			rec.Network.BName = ends[1].Legacy
		}
	}
	for _, x := range e.extend {
		e.buf.Reset()
		if err := x.tmpl.Execute(&e.buf, rec); err != nil {
			e.failed++
			continue
		}
		v, ok := e.Querier.First(context.Background(), e.buf.String())
		if !ok {
			e.failed++
			continue
		}
		if rec.Extend == nil {
			rec.Extend = map[string]string{}
		}
		rec.Extend[x.name] = v
	}
}

// prefetch reads ahead what enriching these flows will read.
func (e *Enricher) prefetch(flows []*flow.Flow) {
	e.Cache.Prefetch(len(flows), func(i int) (a, b, captureTID string, ok bool) {
		if n := flows[i].Network; n != nil {
			return n.A, n.B, flows[i].NodeTID, true
		}
		return "", "", "", false
	})
}

// summary says what enrichment found.
func (e *Enricher) summary() string {
	s := e.Cache.Summary()
	if len(e.extend) > 0 {
		s += fmt.Sprintf(", %d --extend values left out (no answer)", e.failed)
	}
	return s
}
