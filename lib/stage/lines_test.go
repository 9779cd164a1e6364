package stage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// evens is a processor that keeps even numbers, drops odd ones and
// refuses anything else.
type evens struct{ w *bufio.Writer }

func (e evens) Record(line []byte) (bool, error) {
	var n int
	if _, err := fmt.Sscanf(string(line), "%d", &n); err != nil {
		return false, errors.New("not a number")
	}
	if n%2 != 0 {
		return false, nil
	}
	e.w.Write(line)
	return true, e.w.WriteByte('\n')
}

func (evens) Close() error { return nil }

// preparedEvens is evens as a Preparer: numbers parsed ahead, kept in order.
type preparedEvens struct{ evens }

func (e preparedEvens) Prepare(line []byte) (any, error) {
	var n int
	if _, err := fmt.Sscanf(string(line), "%d", &n); err != nil {
		return nil, errors.New("not a number")
	}
	return n, nil
}

func (e preparedEvens) Process(v any) (bool, error) {
	n := v.(int)
	if n%2 != 0 {
		return false, nil
	}
	fmt.Fprintf(e.w, "%d\n", n)
	return true, nil
}

func stageFor(mode string) Lines {
	return Lines{Name: "evens", Parallel: mode == "parallel", Open: func(_ *cli.Context, w *bufio.Writer) (Processor, error) {
		if mode == "prepared" {
			return preparedEvens{evens{w}}, nil
		}
		return evens{w}, nil
	}}
}

// input is many chunks of numbers with bad lines here and there.
func input() (in, want string, bad []string) {
	var b, w strings.Builder
	for i := range 50000 {
		switch {
		case i%9973 == 5:
			fmt.Fprintf(&b, "bad%d\n", i)
			bad = append(bad, fmt.Sprintf("evens: line %d: not a number", i+1))
		case i%2 == 0:
			fmt.Fprintf(&b, "%d\n", i)
			fmt.Fprintf(&w, "%d\n", i)
		default:
			fmt.Fprintf(&b, "%d\n", i)
		}
	}
	return b.String(), w.String(), bad
}

func TestSerialAndParallelAgree(t *testing.T) {
	in, want, bad := input()
	for _, parallel := range []string{"serial", "parallel", "prepared"} {
		dead := filepath.Join(t.TempDir(), "dead")
		var out, errw bytes.Buffer
		code := stageFor(parallel).Run([]string{"evens", "--dead-letter", dead}, strings.NewReader(in), &out, &errw)
		if code != 0 || out.String() != want {
			t.Fatalf("mode %s: exit %d, output differs", parallel, code)
		}
		msgs := strings.Split(strings.TrimSpace(errw.String()), "\n")
		if strings.Join(msgs[:len(msgs)-1], "\n") != strings.Join(bad, "\n") {
			t.Errorf("mode %s: errors %q, want %q", parallel, msgs, bad)
		}
		if last := msgs[len(msgs)-1]; last != fmt.Sprintf("evens: stats: in 50000 out %d dropped %d bad %d", strings.Count(want, "\n"), 50000-strings.Count(want, "\n")-len(bad), len(bad)) {
			t.Errorf("mode %s: %s", parallel, last)
		}
		kept, _ := os.ReadFile(dead)
		if strings.Count(string(kept), "bad") != len(bad) {
			t.Errorf("mode %s: dead letters %q", parallel, kept)
		}
	}
}

func TestFailStopsAtTheBadLine(t *testing.T) {
	in, want, _ := input()
	// Everything before line 6 (bad5) and nothing after.
	before := want[:strings.Index(want, "6\n")]
	for _, parallel := range []string{"serial", "parallel", "prepared"} {
		var out, errw bytes.Buffer
		code := stageFor(parallel).Run([]string{"evens", "--on-error", "fail"}, strings.NewReader(in), &out, &errw)
		if code != 1 || out.String() != before || !strings.Contains(errw.String(), "evens: stats: in 6 out 3 dropped 2 bad 1\nevens: line 6: not a number\n") {
			t.Errorf("mode %s: exit %d, out %q, err %q", parallel, code, out.String(), errw.String())
		}
	}
}
