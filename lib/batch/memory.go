package batch

import (
	"math"
	"os"
	"runtime/debug"
)

// parquetBudget is the heap each open Parquet object may take: its
// writer holds a row group's columns and the file's footer so far. One
// object of 1 000 000 AWS records peaked at 36 MiB live, and Go's
// default pacing (twice the live heap) took sky-batch to 100 MiB
// resident; held to 48 MiB it stayed under 61 MiB, 0 to 14% slower.
const parquetBudget = 48 << 20

// limitMemory sets Go's soft memory limit for n open Parquet objects:
// parquetBudget each, and none without one. A GOMEMLIMIT the user set
// stays as it is.
func limitMemory(n int) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(math.MaxInt64)
	if n > 0 {
		limit = int64(n) * parquetBudget
	}
	debug.SetMemoryLimit(limit)
}
