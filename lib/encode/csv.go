package encode

import (
	"encoding/csv"
	"fmt"
	"io"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stage"
)

// csvEncoder writes one row per record, the columns being dotted paths into
// nested objects. Strings are written unquoted, numbers and booleans as
// they are, null and missing values empty, arrays and objects as JSON.
type csvEncoder struct {
	w       *csv.Writer
	columns []string       // nil until the first record when not given
	index   map[string]int // column by path
	values  [][]byte       // the current record's raw value per column
	row     []string
	path    []byte
	header  bool // whether the header row is written
}

func newCSV(w io.Writer, o Options) Encoder {
	c := &csvEncoder{w: csv.NewWriter(w)}
	if len(o.Columns) > 0 {
		c.setColumns(o.Columns)
	}
	return c
}

func (c *csvEncoder) setColumns(cols []string) {
	c.columns = cols
	c.index = make(map[string]int, len(cols))
	for i, col := range cols {
		if _, dup := c.index[col]; !dup {
			c.index[col] = i
		}
	}
	c.values = make([][]byte, len(cols))
	c.row = make([]string, len(cols))
}

func (c *csvEncoder) Record(raw []byte) error {
	if c.columns == nil {
		var cols []string
		if err := c.flatten(raw, func(path, _ []byte) { cols = append(cols, string(path)) }); err != nil {
			return stage.BadInput(fmt.Errorf("decode: %w", err))
		}
		c.setColumns(cols)
	}
	clear(c.values)
	if err := c.flatten(raw, func(path, v []byte) {
		if i, ok := c.index[string(path)]; ok {
			c.values[i] = v
		}
	}); err != nil {
		return stage.BadInput(fmt.Errorf("decode: %w", err))
	}
	for i, v := range c.values {
		cell, err := cellText(v)
		if err != nil {
			return stage.BadInput(fmt.Errorf("decode %s: %w", c.columns[i], err))
		}
		c.row[i] = cell
	}
	if err := c.writeHeader(); err != nil {
		return err
	}
	if err := c.w.Write(c.row); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

func (c *csvEncoder) writeHeader() error {
	if c.header || c.columns == nil {
		return nil
	}
	c.header = true
	return c.w.Write(c.columns)
}

// Close writes the header alone when no record came with columns given.
func (c *csvEncoder) Close() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

// flatten calls emit with the dotted path and raw value of every leaf of
// the object v, in document order.
func (c *csvEncoder) flatten(v []byte, emit func(path, v []byte)) error {
	c.path = c.path[:0]
	return c.walk(v, emit)
}

func (c *csvEncoder) walk(v []byte, emit func(path, v []byte)) error {
	base := len(c.path)
	_, err := jsonscan.Members(v, func(m jsonscan.Member) error {
		c.path = c.path[:base]
		if base > 0 {
			c.path = append(c.path, '.')
		}
		if m.Escaped {
			name, err := m.Name()
			if err != nil {
				return err
			}
			c.path = append(c.path, name...)
		} else {
			c.path = append(c.path, m.Key...)
		}
		val := v[m.Start:m.End]
		if m.Kind == jsonscan.Object && len(val) > 2 {
			return c.walk(val, emit)
		}
		emit(c.path, val)
		return nil
	})
	return err
}

func cellText(v []byte) (string, error) {
	if v == nil {
		return "", nil
	}
	switch v[0] {
	case '"':
		return jsonscan.StringValue(v)
	case 'n':
		return "", nil
	}
	return string(v), nil
}
