package flows

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/skyflows/skyflows/lib/analyzer"
	"github.com/skyflows/skyflows/lib/stage"
)

const (
	// stableAfter is how long a connection must last for the backoff to start over.
	stableAfter = 10 * time.Second
	// refusalWindow: a close this soon after the upgrade, before any frame, is a refusal.
	refusalWindow = 2 * time.Second
	maxFrame      = 64 << 20
)

// subscribe follows every analyzer at once, each with its own reconnect
// loop, their flows merged into the one output: each analyzer sends only
// the flows of its own agents. With --failover the addresses front one
// analyzer, and are followed one at a time. A loop that cannot go on
// (refused credentials, retries spent) stops them all.
func (s *source) subscribe(ctx context.Context) error {
	if s.cfg.failover {
		return s.follow(ctx, s.cfg.urls, s.peers[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(s.cfg.urls))
	var wg sync.WaitGroup
	for i, u := range s.cfg.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = s.follow(ctx, []*url.URL{u}, s.peers[i]); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// peersOf are the analyzers followed: one for addresses that front the
// same analyzer, else one per address.
func peersOf(cfg *config) []*peer {
	if cfg.replay != "" {
		return nil
	}
	if cfg.failover {
		return []*peer{{name: "analyzer"}}
	}
	var peers []*peer
	for _, u := range cfg.urls {
		peers = append(peers, &peer{name: u.Redacted()})
	}
	return peers
}

// follow connects, reads until the connection ends, and connects again,
// through urls in order, until ctx is done. The backoff starts over once
// a connection delivered flows or lasted stableAfter, and the first
// reconnect after such a connection is immediate: an analyzer keeps
// nothing for a subscriber that comes late.
func (s *source) follow(ctx context.Context, urls []*url.URL, p *peer) error {
	failures, round := 0, 0
	for i := 0; ; i++ {
		u := urls[i%len(urls)]
		conn, _, err := analyzer.Dial(ctx, u, s.cfg.opts)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return nil
		}
		var started time.Time
		fresh := false
		if err == nil {
			if !s.cfg.quiet {
				s.logf("subscribed to %s as host id %q, namespace %s", u.Redacted(), s.cfg.opts.HostID, analyzer.Namespace(s.cfg.opts.CaptureID))
			}
			started = time.Now()
			flows := p.flows.Load()
			err = s.session(ctx, conn, p)
			if ctx.Err() != nil {
				return nil
			}
			if fresh = p.flows.Load() > flows || time.Since(started) > stableAfter; fresh {
				failures, round = 0, 0
			}
		}
		if errors.Is(err, analyzer.ErrAuth) || errors.Is(err, analyzer.ErrForbidden) {
			return err
		}
		failures++
		if s.cfg.maxRetries > 0 && failures > s.cfg.maxRetries {
			return fmt.Errorf("%s: giving up after %d failed attempts: %w", u.Redacted(), failures, err)
		}
		// Fail over to the next address at once; after a whole round, wait.
		delay := time.Duration(0)
		if (i+1)%len(urls) == 0 && !fresh {
			delay = stage.Backoff(round, s.cfg.maxBackoff)
			round++
		}
		if !started.IsZero() {
			s.reconnects.Add(1)
			p.reconnects.Add(1)
		}
		s.logf("%s: %v; attempt %d in %s", u.Redacted(), err, failures+1, delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// session reads frames from conn until it fails, goes idle or ctx is done.
func (s *source) session(ctx context.Context, conn *websocket.Conn, p *peer) error {
	defer conn.Close()
	conn.SetReadLimit(maxFrame)
	timeout := s.cfg.readTimeout
	conn.SetReadDeadline(time.Now().Add(timeout))
	conn.SetPingHandler(func(data string) error {
		conn.SetReadDeadline(time.Now().Add(timeout))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})

	// The reasons this side ends the connection, for the error message.
	idle := make(chan struct{}, 1)
	var idleTimer *time.Timer
	if s.cfg.idleReconnect > 0 {
		idleTimer = time.AfterFunc(s.cfg.idleReconnect, func() {
			idle <- struct{}{}
			conn.SetReadDeadline(time.Now())
		})
		defer idleTimer.Stop()
	}
	stop := context.AfterFunc(ctx, func() {
		// A graceful stop: say goodbye, then stop reading soon.
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "sky-flows stopping"), time.Now().Add(time.Second))
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	})
	defer stop()

	start, gotFrame := time.Now(), false
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			select {
			case <-idle:
				return fmt.Errorf("no flow frame for %s (--idle-reconnect)", s.cfg.idleReconnect)
			default:
			}
			if ctx.Err() != nil {
				return nil
			}
			if !gotFrame && time.Since(start) < refusalWindow && websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return analyzer.ErrClosedAtStart
			}
			return describe(err, timeout)
		}
		gotFrame = true
		conn.SetReadDeadline(time.Now().Add(timeout))
		if typ != websocket.TextMessage {
			continue
		}
		if idleTimer != nil {
			idleTimer.Reset(s.cfg.idleReconnect)
		}
		p.frames.Add(1)
		p.flows.Add(int64(s.frame(data, time.Now(), false)))
	}
}

// describe says in plain words why a connection ended.
func describe(err error, timeout time.Duration) error {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("nothing received for %s, pings included: connection dead (--read-timeout)", timeout)
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Errorf("the analyzer closed the connection (%d %s)", ce.Code, ce.Text)
	}
	return fmt.Errorf("connection lost: %w", err)
}
