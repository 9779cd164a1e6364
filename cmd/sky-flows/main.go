// Command sky-flows subscribes to a Skydive Analyzer's flow API and prints
// one flow per line.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/flows"
)

func main() { os.Exit(flows.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
