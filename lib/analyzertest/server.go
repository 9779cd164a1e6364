// Package analyzertest is a Skydive Analyzer for tests: it speaks the real
// flow subscription handshake and framing with its refusals, routes the
// flow and flow/<captureID> namespaces, batches flows at most 100 a
// frame, fragments large frames and pings its subscribers.
package analyzertest

import (
	"crypto/tls"
	"encoding/base64"
	"errors"

	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Config sets up a Server.
type Config struct {
	Username, Password string        // basic auth required when set
	PingInterval       time.Duration // default 2 s, as http.ws.ping_delay
	PongTimeout        time.Duration // default 5 s: a client silent for ping+pong is dropped
	TLS                *tls.Config   // serve wss:// with this config
	QueueSize          int           // messages queued per subscriber, default 10000
	Block              bool          // wait on a full subscriber queue instead of dropping (benchmarks)
	Addr               string        // listen address, default 127.0.0.1:0
	CloseAfter         int           // close each connection after this many frames (0: never)
	SyncDelay          time.Duration // wait this long before answering a topology SyncRequest
	QueryDelay         time.Duration // wait this long before answering POST /api/topology
}

// Server is a running test analyzer.
type Server struct {
	cfg       Config
	addr      string
	srv       *http.Server
	mu        sync.Mutex
	subs      map[string]*subscriber // by host id
	frozen    atomic.Bool
	accepted  atomic.Int64
	dropped   atomic.Int64 // messages a full subscriber queue refused
	sentFlows atomic.Int64
	graph     graph
}

type subscriber struct {
	graph     bool // a topology subscriber, of /ws/subscriber
	hostID    string
	namespace string // "" means all (flow and stats)
	conn      *websocket.Conn
	queue     chan []byte
	done      chan struct{}
	closed    sync.Once
	pending   sync.WaitGroup
}

// Start starts a server.
func Start(cfg Config) (*Server, error) {
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 2 * time.Second
	}
	if cfg.PongTimeout == 0 {
		cfg.PongTimeout = 5 * time.Second
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 10000
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s := &Server{cfg: cfg, subs: map[string]*subscriber{}}
	return s, s.listen(cfg.Addr)
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/subscriber/flow", s.handle)
	mux.HandleFunc("/ws/subscriber", s.handle)
	mux.HandleFunc("POST /api/topology", s.query)
	s.srv = &http.Server{Handler: mux, TLSConfig: s.cfg.TLS}
	go func() {
		if s.cfg.TLS != nil {
			s.srv.ServeTLS(ln, "", "")
		} else {
			s.srv.Serve(ln)
		}
	}()
	return nil
}

// URL is the server's address for --analyzer.
func (s *Server) URL() string {
	if s.cfg.TLS != nil {
		return "wss://" + s.addr
	}
	return "ws://" + s.addr
}

// param reads a handshake value from its header or lower-case query parameter.
func param(r *http.Request, name string) string {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return r.URL.Query().Get(strings.ToLower(name))
}

var upgrader = websocket.Upgrader{WriteBufferSize: 4096} // small: large frames go out fragmented

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Username != "" {
		user, pass, ok := basicAuth(r)
		if !ok || user != s.cfg.Username || pass != s.cfg.Password {
			http.Error(w, "Wrong credentials", http.StatusUnauthorized)
			return
		}
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusUpgradeRequired)
		return
	}
	hostID := param(r, "X-Host-ID")
	s.mu.Lock()
	_, dup := s.subs[hostID]
	s.mu.Unlock()
	if dup {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusConflict)
		return
	}
	h := http.Header{}
	h.Set("X-Host-ID", "analyzertest")
	h.Set("X-Service-Type", "analyzer")
	conn, err := upgrader.Upgrade(w, r, h)
	if err != nil {
		return
	}
	if param(r, "X-Client-Type") == "" || param(r, "X-Client-Protocol") != "json" {
		// The analyzer's refusal: an upgrade, then a close at once.
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	sub := &subscriber{
		graph: r.URL.Path == "/ws/subscriber", hostID: hostID, namespace: param(r, "X-Websocket-Namespace"), conn: conn,
		queue: make(chan []byte, s.cfg.QueueSize), done: make(chan struct{}),
	}
	s.mu.Lock()
	if _, dup := s.subs[hostID]; dup {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.subs[hostID] = sub
	s.mu.Unlock()
	s.accepted.Add(1)
	go s.write(sub)
	s.read(sub)
}

func basicAuth(r *http.Request) (string, string, bool) {
	if user, pass, ok := r.BasicAuth(); ok {
		return user, pass, true
	}
	token := r.Header.Get("X-Auth-Token")
	if c, err := r.Cookie("authtoken"); token == "" && err == nil {
		token = c.Value
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if token == "" || err != nil {
		return "", "", false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return user, pass, ok
}

// read answers the client's control frames and drops a client that has not
// answered a ping in time.
func (s *Server) read(sub *subscriber) {
	defer s.remove(sub)
	deadline := s.cfg.PingInterval + s.cfg.PongTimeout
	sub.conn.SetReadDeadline(time.Now().Add(deadline))
	sub.conn.SetPongHandler(func(string) error {
		if !s.frozen.Load() {
			sub.conn.SetReadDeadline(time.Now().Add(deadline))
		}
		return nil
	})
	for {
		_, msg, err := sub.conn.ReadMessage()
		if err != nil {
			return
		}
		if sub.graph {
			s.graphRequest(sub, msg)
		}
	}
}

func (s *Server) remove(sub *subscriber) {
	// done first: an enqueue blocked on sub's full queue (Block) holds
	// s.mu, and lets it go once done is closed.
	sub.closed.Do(func() { close(sub.done) })
	s.mu.Lock()
	if s.subs[sub.hostID] == sub {
		delete(s.subs, sub.hostID)
	}
	s.mu.Unlock()
	sub.conn.Close()
}

// write sends queued messages and pings. Once it stops (the client gone,
// a write failed) the subscriber is removed and what is still queued for
// it is let go, so that Flush never waits for a client that left.
func (s *Server) write(sub *subscriber) {
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	defer func() {
		s.remove(sub) // no more is queued for it
		for {
			select {
			case <-sub.queue:
				sub.pending.Done()
			default:
				return
			}
		}
	}()
	sent := 0
	send := func(typ int, data []byte) error {
		sub.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return sub.conn.WriteMessage(typ, data)
	}
	for {
		select {
		case <-sub.done:
			return
		case <-ping.C:
			if !s.frozen.Load() {
				if send(websocket.PingMessage, nil) != nil {
					return
				}
			}
		case msg := <-sub.queue:
			for s.frozen.Load() {
				time.Sleep(10 * time.Millisecond)
			}
			err := send(websocket.TextMessage, msg)
			sent++
			if s.cfg.CloseAfter > 0 && sent == s.cfg.CloseAfter {
				s.remove(sub)
				err = errors.New("closed")
			}
			sub.pending.Done()
			if err != nil {
				return
			}
		}
	}
}

// Publish sends flows (raw JSON objects) to the subscribers of the flow
// namespace and of their capture's, at most 100 a frame, as the analyzer does.
func (s *Server) Publish(flows ...[]byte) {
	for len(flows) > 0 {
		n := min(len(flows), 100)
		s.publish(flows[:n])
		flows = flows[n:]
	}
}

func (s *Server) publish(flows [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []byte
	var byCapture map[string][][]byte
	for _, sub := range s.subs {
		switch {
		case sub.graph:
			continue
		case sub.namespace == "flow" || sub.namespace == "":
			if all == nil {
				all = frame("flow", flows)
			}
			s.enqueue(sub, all, len(flows))
		case strings.HasPrefix(sub.namespace, "flow/"):
			if byCapture == nil {
				byCapture = groupByCapture(flows)
			}
			if mine := byCapture[strings.TrimPrefix(sub.namespace, "flow/")]; len(mine) > 0 {
				s.enqueue(sub, frame(sub.namespace, mine), len(mine))
			}
		}
		if sub.namespace == "" {
			s.enqueue(sub, []byte(`{"Namespace":"stats","Type":"stats","UUID":"x","Status":200,"Obj":{"FlowCount":1}}`), 0)
		}
	}
}

func groupByCapture(flows [][]byte) map[string][][]byte {
	m := map[string][][]byte{}
	for _, f := range flows {
		id := ""
		if v, _, ok := jsonscan.Get(f, "CaptureID"); ok {
			id, _ = jsonscan.StringValue(v)
		}
		m[id] = append(m[id], f)
	}
	return m
}

var frameSeq atomic.Int64

func frame(namespace string, flows [][]byte) []byte {
	size := 128
	for _, f := range flows {
		size += len(f) + 1
	}
	b := fmt.Appendf(make([]byte, 0, size), `{"Namespace":%q,"Type":"store","UUID":"frame-%d","Status":200,"Obj":[`, namespace, frameSeq.Add(1))
	for i, f := range flows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return append(b, "]}"...)
}

// SendRaw sends one frame as it is to every flow subscriber.
func (s *Server) SendRaw(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if !sub.graph {
			s.enqueue(sub, frame, 0)
		}
	}
}

// enqueue queues msg, which holds flows flows, for sub.
func (s *Server) enqueue(sub *subscriber, msg []byte, flows int) {
	sub.pending.Add(1)
	if s.cfg.Block {
		select {
		case sub.queue <- msg:
		case <-sub.done:
			sub.pending.Done()
			return
		}
	} else {
		select {
		case sub.queue <- msg:
		default:
			sub.pending.Done()
			s.dropped.Add(1) // the analyzer's "Buffer overflow"
			return
		}
	}
	s.sentFlows.Add(int64(flows))
}

// frameFlows returns the flows of a store message.
func frameFlows(frame []byte) [][]byte {
	var flows [][]byte
	if obj, _, ok := jsonscan.Get(frame, "Obj"); ok {
		jsonscan.Elements(obj, func(start, end int, k jsonscan.Kind) error {
			if k == jsonscan.Object {
				flows = append(flows, obj[start:end])
			}
			return nil
		})
	}
	return flows
}

// Flush waits until every queued message is written to its subscriber.
func (s *Server) Flush() {
	s.mu.Lock()
	subs := make([]*subscriber, 0, len(s.subs))
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.pending.Wait()
	}
}

// WaitSubscribers waits until n clients are subscribed.
func (s *Server) WaitSubscribers(n int, timeout time.Duration) error {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if s.Subscribers() >= n {
			return nil
		}
	}
	return fmt.Errorf("%d subscribers after %s, want %d", s.Subscribers(), timeout, n)
}

// Subscribers is the number of connected subscribers.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// FlowSubscribers is the number of connected flow subscribers.
func (s *Server) FlowSubscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sub := range s.subs {
		if !sub.graph {
			n++
		}
	}
	return n
}

// Freeze makes the server a dead peer: it sends nothing, pings included,
// and ignores pongs, without closing connections. Thaw undoes it.
func (s *Server) Freeze() {
	s.frozen.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		sub.conn.SetReadDeadline(time.Time{})
	}
}

// Thaw ends Freeze.
func (s *Server) Thaw() { s.frozen.Store(false) }

// Stop closes the listener and every connection at once, as a crash does.
func (s *Server) Stop() {
	s.srv.Close()
	s.mu.Lock()
	for id, sub := range s.subs {
		sub.conn.Close()
		delete(s.subs, id)
	}
	s.mu.Unlock()
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() error {
	var err error
	for range 50 { // the port may take a moment to be free again
		if err = s.listen(s.addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Stats reports what the server did.
type Stats struct {
	Accepted  int64 // subscriptions accepted
	SentFlows int64 // flows queued to subscribers
	Dropped   int64 // messages refused by a full queue
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{s.accepted.Load(), s.sentFlows.Load(), s.dropped.Load()}
}
