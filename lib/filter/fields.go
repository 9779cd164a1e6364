package filter

import (
	"io"
	"strings"

	"github.com/expr-lang/expr/ast"
	jsoniter "github.com/json-iterator/go"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// fields is the part of a record an expression reads: the keys it names
// and, below each, either the whole value (full) or only the keys that a
// static member access (Metric.ABBytes) names. Decoding no more than that
// keeps the filter fast.
type fields struct {
	full  bool
	keys  map[string]*fields
	names []string       // the keys of keys, for a fast linear match
	m     map[string]any // reused for every record
	iter  *jsoniter.Iterator
}

// fieldsOf collects the fields that the expression tree reads.
func fieldsOf(root ast.Node) *fields {
	c := collector{uses: map[string]int{}, bases: map[string]int{}}
	ast.Walk(&root, &c)
	top := &fields{iter: jsoniter.NewIterator(jsoniter.ConfigFastest)}
	for p, n := range c.uses {
		f := top
		for _, name := range strings.Split(p, "\x00") {
			if f.keys == nil {
				f.keys, f.m = map[string]*fields{}, map[string]any{}
			}
			next := f.keys[name]
			if next == nil {
				next = &fields{iter: top.iter}
				f.keys[name] = next
				f.names = append(f.names, name)
			}
			f = next
		}
		// Read more often than as the start of a longer access: read whole.
		f.full = f.full || n > c.bases[p]
	}
	return top
}

// collector counts, for each path of keys (joined by NUL), how often the
// expression reads it and how often it is the base of a longer access.
type collector struct {
	uses, bases map[string]int
}

func (c *collector) Visit(n *ast.Node) {
	switch node := (*n).(type) {
	case *ast.IdentifierNode:
		c.uses[node.Value]++
	case *ast.MemberNode:
		base, ok := staticPath(node.Node)
		prop, isStr := node.Property.(*ast.StringNode)
		if ok && isStr {
			c.bases[base]++
			c.uses[base+"\x00"+prop.Value]++
		}
	}
}

// staticPath returns the key path of an identifier or a chain of member
// accesses by constant strings.
func staticPath(n ast.Node) (string, bool) {
	switch node := n.(type) {
	case *ast.IdentifierNode:
		return node.Value, true
	case *ast.MemberNode:
		base, ok := staticPath(node.Node)
		prop, isStr := node.Property.(*ast.StringNode)
		if ok && isStr {
			return base + "\x00" + prop.Value, true
		}
	}
	return "", false
}

// want returns the name of member m and the fields wanted under it, or nil.
func (f *fields) want(m *jsonscan.Member) (string, *fields) {
	for _, name := range f.names {
		if m.Is(name) {
			return name, f.keys[name]
		}
	}
	return "", nil
}

// decode returns the parts of the value raw that f wants.
func (f *fields) decode(raw []byte, kind jsonscan.Kind) (any, error) {
	if f.full || kind != jsonscan.Object {
		// raw is valid JSON already; jsoniter reports io.EOF after a
		// number that ends the buffer, which is no error here.
		f.iter.ResetBytes(raw)
		f.iter.Error = nil
		v := f.iter.Read()
		if f.iter.Error != nil && f.iter.Error != io.EOF {
			return nil, f.iter.Error
		}
		return v, nil
	}
	clear(f.m)
	_, err := jsonscan.Members(raw, func(m jsonscan.Member) error {
		return f.set(raw, m)
	})
	return f.m, err
}

// set puts the wanted parts of member m of the object raw into f.m.
func (f *fields) set(raw []byte, m jsonscan.Member) error {
	name, w := f.want(&m)
	if w == nil {
		return nil
	}
	v, err := w.decode(raw[m.Start:m.End], m.Kind)
	f.m[name] = v
	return err
}
