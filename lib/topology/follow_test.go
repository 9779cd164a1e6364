package topology

import (
	"bytes"
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/analyzertest"
)

// live follows srv's topology; changes is signalled after each change.
func live(t *testing.T, srv *analyzertest.Server) (*Graph, chan struct{}) {
	t.Helper()
	changes := make(chan struct{}, 1)
	g := NewGraph(func(*Graph) {
		select {
		case changes <- struct{}{}:
		default:
		}
	})
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{URLs: []*url.URL{u}, ReadTimeout: 10 * time.Second, MaxBackoff: 100 * time.Millisecond,
		Options: analyzer.Options{HostID: t.Name(), ClientType: "test", Timeout: 5 * time.Second}, Logf: t.Logf}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Follow(ctx, g)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return g, changes
}

// await waits for cond, checked after each change of g.
func await(t *testing.T, changes chan struct{}, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-changes:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func start(t *testing.T, cfg analyzertest.Config) *analyzertest.Server {
	t.Helper()
	srv, err := analyzertest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// TestFollowRecording: the initial sync, then the recorded changes as the
// analyzer sent them: a pod appears, its containers come and go, a
// namespace is deleted and made again.
func TestFollowRecording(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	srv := start(t, analyzertest.Config{})
	if err := srv.LoadTopology(bytes.NewReader(bytes.Join(lines[:4], []byte("\n")))); err != nil {
		t.Fatal(err)
	}
	g, changes := live(t, srv)
	await(t, changes, "the sync", g.Synced)
	if c := resolve(g, "10.99.0.2", vethB); c != none {
		t.Fatalf("before the pod: %+v", c)
	}
	next := 4
	step := func(upto int, addr, from string, want Context) {
		t.Helper()
		for ; next < upto; next++ {
			if err := srv.GraphEvent(lines[next]); err != nil {
				t.Fatal(err)
			}
		}
		await(t, changes, addr+" as "+want.Name, func() bool { return resolve(g, addr, from) == want })
	}
	step(76, "10.99.0.2", vethA, webPod)
	step(170, "10.99.0.1", vethA, curl)
	step(193, "10.99.0.1", vethA, host)
	step(len(lines), "10.99.0.1", vethA, curl)
}

// TestFollowAway: the analyzer goes away; the last picture answers; it
// comes back with changes made meanwhile, and a new sync brings them.
func TestFollowAway(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	srv := start(t, analyzertest.Config{})
	if err := srv.LoadTopology(bytes.NewReader(bytes.Join(lines[:80], []byte("\n")))); err != nil {
		t.Fatal(err)
	}
	g, changes := live(t, srv)
	await(t, changes, "the pod", func() bool { return resolve(g, "10.99.0.2", vethB) == webPod })
	srv.Stop()
	if c := resolve(g, "10.99.0.2", vethB); c != webPod {
		t.Fatalf("analyzer away: %+v", c)
	}
	// Meanwhile, the pod goes.
	deletion := []byte(`{"Namespace":"Graph","Type":"NodeDeleted","UUID":"x","Status":200,"Obj":{"ID":"fc11ae41-06be-4da6-9f45-dd2c55250338","Metadata":{}}}`)
	if err := srv.GraphEvent(deletion); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	await(t, changes, "a second sync", func() bool {
		return resolve(g, "10.99.0.2", vethB) == Context{Type: Container, Name: "web-5d4f8b7c9d-x7k2p"}
	})
	if srv.Syncs() < 2 {
		t.Errorf("%d syncs", srv.Syncs())
	}
}
