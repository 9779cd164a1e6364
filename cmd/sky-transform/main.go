// Command sky-transform turns Skydive flows into target records
// (secadvisor, AWS VPC flow logs, IBM VPC flow logs).
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/transform"
)

func main() { os.Exit(transform.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
