// Package clitest runs the real stage binaries in real shell pipelines with
// testscript (github.com/rogpeppe/go-internal): each script under testdata
// is one scenario with its exact expected outputs.
package clitest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/skyflows/skyflows/lib/batch"
	"github.com/skyflows/skyflows/lib/classify"
	"github.com/skyflows/skyflows/lib/encode"
	"github.com/skyflows/skyflows/lib/filter"
	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/flows"
	"github.com/skyflows/skyflows/lib/natsbus"
	"github.com/skyflows/skyflows/lib/prom"
	"github.com/skyflows/skyflows/lib/s3put"
	"github.com/skyflows/skyflows/lib/transform"
)

// stages are the commands the scripts can run, by their installed names.
var stages = map[string]func(args []string, in *os.File, out, errw *os.File) int{
	"sky-classify":  func(a []string, i *os.File, o, e *os.File) int { return classify.Run(a, i, o, e) },
	"sky-filter":    func(a []string, i *os.File, o, e *os.File) int { return filter.Run(a, i, o, e) },
	"sky-encode":    func(a []string, i *os.File, o, e *os.File) int { return encode.Run(a, i, o, e) },
	"sky-genflows":  func(a []string, i *os.File, o, e *os.File) int { return flowgen.Run(a, i, o, e) },
	"sky-flows":     func(a []string, i *os.File, o, e *os.File) int { return flows.Run(a, i, o, e) },
	"sky-transform": func(a []string, i *os.File, o, e *os.File) int { return transform.Run(a, i, o, e) },
	"sky-batch":     func(a []string, i *os.File, o, e *os.File) int { return batch.Run(a, i, o, e) },
	"sky-s3put":     func(a []string, i *os.File, o, e *os.File) int { return s3put.Run(a, i, o, e) },
	"sky-prom":      func(a []string, i *os.File, o, e *os.File) int { return prom.Run(a, i, o, e) },
	"sky-nats":      func(a []string, i *os.File, o, e *os.File) int { return natsbus.Run(a, i, o, e) },
}

func TestMain(m *testing.M) {
	cmds := map[string]func(){}
	for name, run := range stages {
		cmds[name] = func() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
	}
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	testdata, err := filepath.Abs("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	wait, err := filepath.Abs("wait.sh")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("FLOWS", filepath.Join(testdata, "flows"))
			env.Setenv("FRAMES", filepath.Join(testdata, "analyzer"))
			env.Setenv("TOPOLOGY", filepath.Join(testdata, "topology"))
			env.Setenv("SCRIPTS", filepath.Join(testdata, "..", "scripts"))
			env.Setenv("WAIT", wait)                   // bounded waits for the scenarios' shell lines
			env.Setenv("SKYFLOWS_BIN", "/nonexistent") // the pipelines use the commands of the scripts
			env.Defer(func() { stopS3(env.WorkDir) })
			state := &analyzerState{}
			env.Values[analyzerKey{}] = state
			env.Defer(state.stop)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"bigline":   bigline,
			"sumstats":  sumstats,
			"analyzer":  analyzerCmd,
			"waitlines": waitlines,
			"s3":        s3Cmd,
		},
	})
}

// bigline FILE BYTES appends to FILE one valid flow record of about BYTES bytes.
func bigline(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bigline FILE BYTES")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	ts.Check(err)
	_, err = fmt.Fprintf(f, `{"UUID":"big","Network":{"A":"10.0.0.1","B":"1.1.1.1"},"Pad":"%s"}`+"\n", strings.Repeat("x", n))
	ts.Check(err)
	ts.Check(f.Close())
}

// sumstats FILE checks that every stats line in FILE adds up:
// in = out + dropped + bad + unwritten; ! sumstats, that one does not.
func sumstats(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sumstats FILE")
	}
	seen, wrong := 0, ""
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		_, stats, ok := strings.Cut(line, ": stats: ")
		if !ok {
			continue
		}
		var in, out, dropped, bad, unwritten int
		if _, err := fmt.Sscanf(stats, "in %d out %d dropped %d bad %d", &in, &out, &dropped, &bad); err != nil {
			ts.Fatalf("bad stats line %q: %v", line, err)
		}
		if _, rest, ok := strings.Cut(stats, " unwritten "); ok {
			if _, err := fmt.Sscanf(rest, "%d", &unwritten); err != nil {
				ts.Fatalf("bad stats line %q: %v", line, err)
			}
		}
		if in != out+dropped+bad+unwritten && wrong == "" {
			wrong = line
		}
		seen++
	}
	switch {
	case seen == 0:
		ts.Fatalf("no stats line in %s", args[0])
	case wrong != "" && !neg:
		ts.Fatalf("stats do not add up: %q", wrong)
	case wrong == "" && neg:
		ts.Fatalf("every stats line of %s adds up", args[0])
	}
}
