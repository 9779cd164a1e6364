// Package filter keeps or drops records by their tag or by a predicate over
// any of their fields, written in the expr language (github.com/expr-lang/expr).
package filter

import (
	"errors"
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Expr is a compiled predicate over a record's fields.
type Expr struct {
	prog   *vm.Program
	vm     vm.VM
	fields *fields // what the predicate reads
}

// Compile compiles a boolean expression. Its error names the column.
func Compile(src string) (*Expr, error) {
	prog, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			col := fe.Column + 1
			mark := min(max(fe.From, 0), len(src))
			return nil, fmt.Errorf("expression: column %d: %s: %s>>>%s", col, fe.Message, src[:mark], src[mark:])
		}
		return nil, fmt.Errorf("expression: %w", err)
	}
	return &Expr{prog: prog, fields: fieldsOf(prog.Node())}, nil
}

// Set reads member m of the record line if the predicate uses it.
func (e *Expr) Set(line []byte, m jsonscan.Member) error {
	return e.fields.set(line, m)
}

// Eval evaluates the predicate over the members Set since the last Eval.
// A missing field or one of another type is an evaluation error.
func (e *Expr) Eval() (bool, error) {
	defer e.Reset()
	env := e.fields.m
	if env == nil {
		env = map[string]any{}
	}
	out, err := e.vm.Run(e.prog, env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return false, fmt.Errorf("column %d: %s", fe.Column+1, fe.Message)
		}
		return false, err
	}
	ok, _ := out.(bool)
	return ok, nil
}

// Reset forgets the members Set since the last Eval.
func (e *Expr) Reset() { clear(e.fields.m) }
