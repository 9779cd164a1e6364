// Command sky-s3put uploads the objects sky-batch finished to S3 and
// deletes them from the spool only once stored.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/s3put"
)

func main() { os.Exit(s3put.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
