package filter

import (
	"bufio"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stage"
)

// Run is the sky-filter command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	return stage.Lines{
		Name:      "sky-filter",
		Usage:     "keep the records whose tag and fields pass; they are written byte for byte",
		ArgsUsage: "[EXPRESSION]",
		Description: "EXPRESSION, in the expr language (https://expr-lang.org), reads any field:\n" +
			"'Tag != \"other\" && Transport.Protocol == \"TCP\" && Metric.ABBytes > 1000'.\n" +
			"A missing field or one of another type makes it false (bad input with --strict).",
		Args:     true,
		Parallel: true,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "include-tag", EnvVars: []string{"SKY_INCLUDE_TAGS"},
				Usage: "keep only records with this `TAG` (repeatable)"},
			&cli.StringSliceFlag{Name: "exclude-tag", EnvVars: []string{"SKY_EXCLUDE_TAGS"},
				Usage: "drop records with this `TAG` (repeatable)"},
			&cli.StringFlag{Name: "expr", Aliases: []string{"e"}, EnvVars: []string{"SKY_FILTER_EXPR"},
				Usage: "keep records for which `EXPRESSION` is true (or give it as the argument)"},
			&cli.StringFlag{Name: "tag-field", Value: "Tag", EnvVars: []string{"SKY_TAG_FIELD"},
				Usage: "the top-level `FIELD` that holds the tag"},
			&cli.BoolFlag{Name: "strict", EnvVars: []string{"SKY_FILTER_STRICT"},
				Usage: "a missing field or one of another type is bad input, not false"},
		},
		Open: open,
	}.Run(args, in, out, errw)
}

func open(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
	f := &filter{w: w, field: c.String("tag-field"), strict: c.Bool("strict")}
	src := c.String("expr")
	switch {
	case c.NArg() > 1:
		return nil, stage.Usagef("want at most one expression argument, got %d", c.NArg())
	case c.NArg() == 1 && src != "":
		return nil, stage.Usagef("give the expression as --expr or as the argument, not both")
	case c.NArg() == 1:
		src = c.Args().First()
	}
	if src != "" {
		e, err := Compile(src)
		if err != nil {
			return nil, stage.Usage(err)
		}
		f.expr = e
	}
	f.include = set(c.StringSlice("include-tag"))
	f.exclude = set(c.StringSlice("exclude-tag"))
	return f, nil
}

func set(values []string) map[string]bool {
	if len(values) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range values {
		m[v] = true
	}
	return m
}

type filter struct {
	w                *bufio.Writer
	field            string
	strict           bool
	include, exclude map[string]bool
	expr             *Expr
}

func (f *filter) Record(line []byte) (bool, error) {
	var tag []byte
	var tagKind jsonscan.Kind
	_, err := jsonscan.Members(line, func(m jsonscan.Member) error {
		if m.Is(f.field) {
			tag, tagKind = line[m.Start:m.End], m.Kind
		}
		if f.expr == nil {
			return nil
		}
		return f.expr.Set(line, m)
	})
	if err != nil {
		return false, stage.BadInput(fmt.Errorf("decode: %w", err))
	}
	keep, err := f.keepTag(tag, tagKind)
	if err != nil || !keep {
		if f.expr != nil {
			f.expr.Reset()
		}
		return false, stage.BadInput(err)
	}
	if f.expr != nil {
		ok, err := f.expr.Eval()
		if err != nil && f.strict {
			return false, stage.BadInput(fmt.Errorf("expression: %w", err))
		}
		if !ok {
			return false, nil
		}
	}
	f.w.Write(line)
	return true, f.w.WriteByte('\n')
}

func (f *filter) keepTag(raw []byte, kind jsonscan.Kind) (bool, error) {
	if f.include == nil && f.exclude == nil {
		return true, nil
	}
	if raw == nil || kind != jsonscan.String {
		if f.strict {
			return false, fmt.Errorf("%s: want a string, got %s", f.field, describe(raw, kind))
		}
		return f.include == nil, nil
	}
	tag, err := jsonscan.StringValue(raw)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.field, err)
	}
	if f.include != nil && !f.include[tag] {
		return false, nil
	}
	return !f.exclude[tag], nil
}

func describe(raw []byte, kind jsonscan.Kind) string {
	if raw == nil {
		return "nothing"
	}
	return kind.String()
}

func (f *filter) Close() error { return nil }
