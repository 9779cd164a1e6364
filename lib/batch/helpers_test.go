package batch

import (
	"flag"
	"regexp"
	"testing"

	"github.com/urfave/cli/v2"
)

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// testContext parses args with sky-batch's flags, for tests that drive a
// batcher by hand.
func testContext(t testing.TB, args ...string) *cli.Context {
	t.Helper()
	set := flag.NewFlagSet("sky-batch", flag.ContinueOnError)
	for _, f := range flags() {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cli.NewContext(cli.NewApp(), set, nil)
}
