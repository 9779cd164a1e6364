// Command sky-batch groups records into compressed objects in a spool
// directory and prints a manifest line per object.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/batch"
)

func main() { os.Exit(batch.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
