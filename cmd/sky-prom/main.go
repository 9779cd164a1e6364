// Command sky-prom serves per-connection Prometheus gauges of the flows it reads.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/prom"
)

func main() { os.Exit(prom.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
