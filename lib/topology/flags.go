package topology

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/stage"
)

// Flags are the flags of a tool that follows the topology, beside the
// switch that turns it on.
func Flags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "analyzer", Aliases: []string{"a"}, Value: cli.NewStringSlice("ws://127.0.0.1:8082"), EnvVars: []string{"SKY_ANALYZER"},
			Usage: "topology: analyzer `URL` (ws://, wss://, host:port); several are tried in turn, as each holds the whole topology"},
		&cli.DurationFlag{Name: "topology-wait", Value: 5 * time.Second, EnvVars: []string{"SKY_TOPOLOGY_WAIT"},
			Usage: "topology: wait at most `DURATION` at start for the topology; records go out unenriched until it comes"},
		&cli.DurationFlag{Name: "topology-timeout", Value: 2 * time.Second, EnvVars: []string{"SKY_TOPOLOGY_TIMEOUT"},
			Usage: "topology: give up a Gremlin query (--extend) after `DURATION`; after a failure, queries pause 5s"},
	}, analyzer.ClientFlags()...)
}

// Live is a graph kept current from the analyzer, and a querier for it.
type Live struct {
	Graph   *Graph
	Querier *Querier
	stop    context.CancelFunc
	done    chan struct{}
}

// Start follows the topology of the analyzers the flags name, and waits
// for it at most --topology-wait. The subscription calls logf from its
// own goroutine.
func Start(c *cli.Context, name string, onChange func(*Graph), logf func(string, ...any)) (*Live, error) {
	src := &Source{ReadTimeout: 15 * time.Second, MaxBackoff: 30 * time.Second, Logf: logf,
		Options: analyzer.Options{HostID: analyzer.DefaultHostID(name + "-topology"), ClientType: "skyflows", Timeout: 10 * time.Second}}
	if err := analyzer.FromFlags(c, &src.Options); err != nil {
		return nil, err
	}
	var err error
	if src.URLs, err = analyzer.Endpoints(c.StringSlice("analyzer")); err != nil {
		return nil, err
	}
	if len(src.URLs) == 0 {
		return nil, stage.Usagef("--analyzer: none given")
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &Live{Graph: NewGraph(onChange), stop: stop, done: make(chan struct{}),
		Querier: NewQuerier(src.URLs[0], src.Options, c.Duration("topology-timeout"), 10*time.Minute)}
	go func() {
		defer close(l.done)
		src.Follow(ctx, l.Graph)
	}()
	select {
	case <-l.Graph.first:
	case <-time.After(c.Duration("topology-wait")):
		logf("topology: none yet after %s; records go out unenriched until it comes", c.Duration("topology-wait"))
	}
	return l, nil
}

// Stop ends the subscription.
func (l *Live) Stop() {
	l.stop()
	<-l.done
}
