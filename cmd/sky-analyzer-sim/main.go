// Command sky-analyzer-sim serves the Skydive Analyzer's flow API with
// generated or recorded flows, to try and benchmark sky-flows.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/analyzertest"
)

func main() { os.Exit(analyzertest.RunSim(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
