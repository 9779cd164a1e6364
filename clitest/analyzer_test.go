package clitest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/skyflows/skyflows/lib/analyzertest"
	"github.com/skyflows/skyflows/lib/flowgen"
)

type analyzerKey struct{}

// analyzerState is a script's test analyzer, running in the test process
// while the scripts' sky-flows processes connect to it.
type analyzerState struct {
	srv  *analyzertest.Server
	seed uint64
}

func (a *analyzerState) stop() {
	if a.srv != nil {
		a.srv.Stop()
	}
}

// analyzerCmd drives the script's analyzer:
//
//	analyzer start [USER:PASSWORD]   start it; $ANALYZER is its URL
//	analyzer publish N               publish N generated flows, appended to $WORK/published.ndjson
//	analyzer publishfile FILE        publish the flows of FILE, one a line
//	analyzer topology FILE           serve the topology of recorded subscription frames
//	analyzer flush                   wait until every queued frame is written
//	analyzer wait N [topology]       wait until exactly N clients follow the flows [the topology]
//	analyzer stop | restart          crash it, start it again on the same port
//	analyzer check                   fail if a write blocked over 250ms or a queue overflowed
func analyzerCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: analyzer start|publish|flush|wait|stop|restart|check ...")
	}
	a := ts.Value(analyzerKey{}).(*analyzerState)
	if args[0] != "start" && a.srv == nil {
		ts.Fatalf("analyzer not started")
	}
	switch args[0] {
	case "start":
		cfg := analyzertest.Config{PingInterval: 500 * time.Millisecond}
		if len(args) > 1 {
			cfg.Username, cfg.Password, _ = strings.Cut(args[1], ":")
		}
		srv, err := analyzertest.Start(cfg)
		ts.Check(err)
		a.srv = srv
		ts.Setenv("ANALYZER", srv.URL())
	case "publish":
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		var buf bytes.Buffer
		a.seed++
		ts.Check(flowgen.New(a.seed).Write(&buf, n))
		f, err := os.OpenFile(ts.MkAbs("published.ndjson"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		ts.Check(err)
		_, err = f.Write(buf.Bytes())
		ts.Check(err)
		ts.Check(f.Close())
		a.srv.Publish(bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))...)
	case "publishfile":
		data, err := os.ReadFile(ts.MkAbs(args[1]))
		ts.Check(err)
		a.srv.Publish(bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))...)
	case "topology":
		f, err := os.Open(ts.MkAbs(args[1]))
		ts.Check(err)
		defer f.Close()
		ts.Check(a.srv.LoadTopology(f))
	case "flush":
		a.srv.Flush()
	case "wait":
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		count := a.srv.FlowSubscribers
		if len(args) > 2 && args[2] == "topology" {
			count = func() int { return a.srv.Subscribers() - a.srv.FlowSubscribers() }
		}
		for end := time.Now().Add(10 * time.Second); count() != n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				ts.Fatalf("%d subscribers, want %d", count(), n)
			}
		}
	case "stop":
		a.srv.Stop()
	case "restart":
		ts.Check(a.srv.Restart())
	case "check":
		// Held back, the analyzer's queue for the subscriber fills and
		// refuses messages, as Skydive's does: an event, not a duration.
		if st := a.srv.Stats(); st.Dropped > 0 {
			ts.Fatalf("the analyzer was held back: %+v", st)
		}
	default:
		ts.Fatalf("unknown analyzer command %q", args[0])
	}
}

// waitlines FILE N waits up to 10 s until FILE has N lines.
func waitlines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitlines FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	have := 0
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		if have = bytes.Count(data, []byte("\n")); have >= n {
			return
		}
	}
	ts.Fatalf("%s has %d lines, want %d", args[0], have, n)
}
