package encode

import (
	"bufio"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/stage"
)

// Run is the sky-encode command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	r := &input{src: in}
	defer r.Close()
	return stage.Lines{
		Name:  "sky-encode",
		Usage: "encode an NDJSON record stream (as it is, or gzip or zstd compressed) into one document",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "ndjson", EnvVars: []string{"SKY_ENCODE_FORMAT"},
				Usage: "output `FORMAT`: " + strings.Join(Names(), ", ")},
			&cli.StringSliceFlag{Name: "columns", EnvVars: []string{"SKY_COLUMNS"},
				Usage: "CSV columns as dotted `PATHS` (Network.A), comma-separated or repeated; default: the first record's keys"},
			PrettyFlag(),
			&cli.StringSliceFlag{Name: "header", EnvVars: []string{"SKY_VPCLOGS_HEADER"},
				Usage: "vpclogs: a `KEY=VALUE` of the object header, such as collector_crn=... (repeatable)"},
		},
		Open: func(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			header, err := ParseHeader(c.StringSlice("header"))
			if err != nil {
				return nil, stage.Usage(err)
			}
			enc, err := New(c.String("format"), w, Options{Columns: c.StringSlice("columns"), Header: header, Pretty: c.Bool("pretty")})
			if err != nil {
				return nil, stage.Usage(err) // the format and its options
			}
			return processor{enc}, nil
		},
	}.Run(args, r, out, errw)
}

type processor struct{ Encoder }

func (p processor) Record(line []byte) (bool, error) { return true, p.Encoder.Record(line) }

// PrettyFlag is --pretty, for sky-encode and sky-batch.
func PrettyFlag() cli.Flag {
	return &cli.BoolFlag{Name: "pretty", EnvVars: []string{"SKY_PRETTY"},
		Usage: "json, secadvisor: indent the document with tabs, as the original exporter's pretty objects"}
}
