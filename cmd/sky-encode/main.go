// Command sky-encode encodes a record stream into one document (JSON, CSV...).
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/encode"
)

func main() { os.Exit(encode.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
