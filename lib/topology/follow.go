package topology

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/stage"
)

// Path is the analyzer's topology subscription endpoint.
const Path = "/ws/subscriber"

// Source is where a graph comes from: the analyzer's addresses (each
// analyzer of a cluster holds the whole topology, so they are tried in
// turn) and how to connect.
type Source struct {
	URLs        []*url.URL
	Options     analyzer.Options
	ReadTimeout time.Duration // reconnect when nothing, pings included, came for this long
	MaxBackoff  time.Duration
	Logf        func(format string, a ...any)
}

// Follow keeps g a mirror of the analyzer's topology until ctx is done:
// it subscribes, asks for the whole graph, applies every change, and
// subscribes again when the connection ends. While it is away, g keeps
// the last picture.
func (s *Source) Follow(ctx context.Context, g *Graph) {
	for i, round := 0, 0; ctx.Err() == nil; i++ {
		u := endpoint(s.URLs[i%len(s.URLs)])
		synced, err := s.session(ctx, u, g)
		if ctx.Err() != nil {
			return
		}
		if synced {
			round = 0
		}
		delay := time.Duration(0)
		if (i+1)%len(s.URLs) == 0 && !synced {
			delay = stage.Backoff(round, s.MaxBackoff)
			round++
		}
		s.Logf("topology: %s: %v; again in %s", u.Redacted(), err, delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// endpoint is the topology subscription URL of an analyzer address.
func endpoint(u *url.URL) *url.URL {
	t := *u
	t.Path = Path
	return &t
}

// session subscribes once and applies messages until the connection ends;
// synced tells whether a whole picture came.
func (s *Source) session(ctx context.Context, u *url.URL, g *Graph) (synced bool, err error) {
	o := s.Options
	o.Graph = true
	conn, _, err := analyzer.Dial(ctx, u, o)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.NetConn().Close() }) // a deadline would be pushed back by pings
	defer stop()
	conn.SetReadDeadline(time.Now().Add(s.ReadTimeout))
	conn.SetPingHandler(func(data string) error {
		conn.SetReadDeadline(time.Now().Add(s.ReadTimeout))
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	id := rand.Text()
	req := fmt.Sprintf(`{"Namespace":"Graph","Type":"SyncRequest","UUID":%q,"Status":0,"Obj":{}}`, id)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		return false, fmt.Errorf("sync request: %w", err)
	}
	before := g.syncs.Load()
	for {
		typ, r, err := conn.NextReader()
		if err != nil {
			if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
				return synced, fmt.Errorf("the analyzer closed the connection (%d %s)", ce.Code, ce.Text)
			}
			return synced, fmt.Errorf("connection lost: %w", err)
		}
		conn.SetReadDeadline(time.Now().Add(s.ReadTimeout))
		if typ != websocket.TextMessage {
			continue
		}
		if err := g.Apply(r); err != nil {
			return synced, fmt.Errorf("topology message: %w", err)
		}
		if !synced && g.syncs.Load() > before {
			synced = true
			nodes, edges := g.Len()
			s.Logf("topology: %d nodes and %d edges from %s", nodes, edges, u.Redacted())
		}
	}
}
