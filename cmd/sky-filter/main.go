// Command sky-filter drops records by tag or by a predicate on their fields.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/filter"
)

func main() { os.Exit(filter.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
