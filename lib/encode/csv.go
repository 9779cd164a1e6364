package encode

import (
	"encoding/csv"
	"fmt"
	"io"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// csvEncoder writes one row per record, the columns being dotted paths into
// nested objects. Strings are written unquoted, numbers and booleans as
// they are, null and missing values empty, arrays and objects as JSON.
type csvEncoder struct {
	w       *csv.Writer
	columns []string
	fields  map[string][]byte
	row     []string
}

func newCSV(w io.Writer, o Options) Encoder {
	return &csvEncoder{w: csv.NewWriter(w), columns: o.Columns, fields: map[string][]byte{}}
}

func (c *csvEncoder) Record(raw []byte) error {
	clear(c.fields)
	var order *[]string
	if c.columns == nil {
		order = &[]string{}
	}
	if err := flatten(raw, "", c.fields, order); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	row := make([]string, 0, len(c.fields))
	columns := c.columns
	if order != nil {
		columns = *order
	}
	for _, col := range columns {
		cell, err := cellText(c.fields[col])
		if err != nil {
			return fmt.Errorf("decode %s: %w", col, err)
		}
		row = append(row, cell)
	}
	if c.row == nil {
		c.columns = columns
		if err := c.w.Write(columns); err != nil {
			return err
		}
	}
	c.row = row
	if err := c.w.Write(row); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

// Close writes the header alone when no record came with --columns set.
func (c *csvEncoder) Close() error {
	if c.row == nil && c.columns != nil {
		if err := c.w.Write(c.columns); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// flatten puts the leaves of the object v into fields under their dotted
// paths and, if order is not nil, appends the paths in document order.
func flatten(v []byte, prefix string, fields map[string][]byte, order *[]string) error {
	_, err := jsonscan.Members(v, func(m jsonscan.Member) error {
		key, err := jsonscan.Unquote(m.Key)
		if err != nil {
			return err
		}
		path := prefix + key
		val := v[m.Start:m.End]
		if m.Kind == jsonscan.Object && len(val) > 2 {
			return flatten(val, path+".", fields, order)
		}
		if _, dup := fields[path]; !dup && order != nil {
			*order = append(*order, path)
		}
		fields[path] = val
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
