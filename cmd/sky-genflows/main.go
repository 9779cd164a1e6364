// Command sky-genflows prints deterministic, realistic Skydive flows, one
// per line, for tests, benchmarks and trying the pipeline without an analyzer.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/flowgen"
)

func main() { os.Exit(flowgen.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
