package encode

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/skyflows/skyflows/lib/awsflowlogs"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stage"
)

// awsEncoder writes AWS VPC flow logs records as AWS delivers them: a
// header line of field names, then space-separated values (or CSV). The
// version of the first record sets the fields; other keys (the tag) are
// not written.
type awsEncoder struct {
	w       io.Writer
	csv     *csv.Writer // nil: space-separated text
	fields  []string
	version string
	values  map[string][]byte
	row     []string
	line    []byte
}

func newAWS(w io.Writer, _ Options) Encoder { return &awsEncoder{w: w, values: map[string][]byte{}} }

func newAWSCSV(w io.Writer, _ Options) Encoder {
	return &awsEncoder{w: w, csv: csv.NewWriter(w), values: map[string][]byte{}}
}

func (a *awsEncoder) Record(raw []byte) error {
	clear(a.values)
	if _, err := jsonscan.Members(raw, func(m jsonscan.Member) error {
		name, err := m.Name()
		a.values[name] = raw[m.Start:m.End]
		return err
	}); err != nil {
		return stage.BadInput(fmt.Errorf("decode: %w", err))
	}
	version := string(a.values["version"])
	fields := a.fields
	if fields == nil {
		n, _ := strconv.Atoi(version)
		if fields = awsflowlogs.Fields(n); fields == nil {
			return stage.BadInput(fmt.Errorf("not an AWS flow logs record: version %q", version))
		}
	} else if version != a.version {
		return stage.BadInput(fmt.Errorf("version %s record among version %s ones", version, a.version))
	}
	a.row = a.row[:0]
	for _, f := range fields {
		v, ok := a.values[f]
		if !ok {
			a.row = append(a.row, "-")
			continue
		}
		cell, err := cellText(v)
		if err != nil {
			return stage.BadInput(fmt.Errorf("decode %s: %w", f, err))
		}
		if a.csv == nil && (cell == "" || strings.ContainsAny(cell, " \t\r\n")) {
			return stage.BadInput(fmt.Errorf("%s: %q cannot be a space-separated value", f, cell))
		}
		a.row = append(a.row, cell)
	}
	if a.fields == nil {
		a.fields, a.version = fields, version
		if err := a.write(a.fields); err != nil {
			return err
		}
	}
	return a.write(a.row)
}

func (a *awsEncoder) write(cells []string) error {
	if a.csv != nil {
		if err := a.csv.Write(cells); err != nil {
			return err
		}
		a.csv.Flush()
		return a.csv.Error()
	}
	a.line = append(a.line[:0], strings.Join(cells, " ")...)
	a.line = append(a.line, '\n')
	_, err := a.w.Write(a.line)
	return err
}

func (a *awsEncoder) Close() error { return nil }
