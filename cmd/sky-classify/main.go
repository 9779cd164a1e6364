// Command sky-classify tags flows ingress, egress, internal or other by subnet.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/classify"
)

func main() { os.Exit(classify.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
