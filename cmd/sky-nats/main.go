// Command sky-nats publishes records to NATS JetStream and consumes them
// back: the link between capture hosts and store workers.
package main

import (
	"os"

	"github.com/skyflows/skyflows/lib/natsbus"
)

func main() { os.Exit(natsbus.Run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
