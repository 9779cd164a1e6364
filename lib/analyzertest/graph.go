package analyzertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// graph is the topology the server holds and serves: at /ws/subscriber
// (a SyncReply to each SyncRequest, then every change) and, for canned
// queries, at POST /api/topology.
type graph struct {
	mu      sync.Mutex
	nodes   map[string]json.RawMessage
	edges   map[string]json.RawMessage
	order   []string // ids in the order they came, for stable replies
	answers map[string]string
	syncs   int
}

// message is a topology message, its Obj kept raw.
type message struct {
	Namespace, Type, UUID string
	Status                int
	Obj                   json.RawMessage
}

// apply changes the topology by a recorded message; other namespaces and
// error replies leave it alone.
func (g *graph) apply(frame []byte) error {
	var m message
	if err := json.Unmarshal(frame, &m); err != nil {
		return err
	}
	if m.Namespace != "Graph" || m.Status != 200 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.nodes == nil {
		g.nodes, g.edges = map[string]json.RawMessage{}, map[string]json.RawMessage{}
	}
	if m.Type == "SyncReply" {
		var all struct{ Nodes, Edges []json.RawMessage }
		if err := json.Unmarshal(m.Obj, &all); err != nil {
			return err
		}
		clear(g.nodes)
		clear(g.edges)
		g.order = g.order[:0]
		for _, n := range all.Nodes {
			g.set(g.nodes, idOf(n), n)
		}
		for _, e := range all.Edges {
			g.set(g.edges, idOf(e), e)
		}
		return nil
	}
	var id struct{ ID string }
	if err := json.Unmarshal(m.Obj, &id); err != nil {
		return err
	}
	switch m.Type {
	case "NodeAdded", "NodeUpdated":
		g.set(g.nodes, id.ID, m.Obj)
	case "EdgeAdded", "EdgeUpdated":
		g.set(g.edges, id.ID, m.Obj)
	case "NodeDeleted":
		g.drop(g.nodes, id.ID)
	case "EdgeDeleted":
		g.drop(g.edges, id.ID)
	}
	return nil
}

func idOf(obj json.RawMessage) string {
	var id struct{ ID string }
	json.Unmarshal(obj, &id)
	return id.ID
}

// set adds or replaces an element; order keeps the order they came in.
func (g *graph) set(m map[string]json.RawMessage, id string, obj json.RawMessage) {
	if _, ok := m[id]; !ok {
		g.order = append(g.order, id)
	}
	m[id] = obj
}

func (g *graph) drop(m map[string]json.RawMessage, id string) {
	if _, ok := m[id]; ok {
		delete(m, id)
		g.order = slices.DeleteFunc(g.order, func(o string) bool { return o == id })
	}
}

// syncReply is the whole topology, as the reply to request uuid.
func (g *graph) syncReply(uuid string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.syncs++
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"Namespace":"Graph","Type":"SyncReply","UUID":%q,"Status":200,"Obj":{"Nodes":[`, uuid)
	list := func(m map[string]json.RawMessage) {
		n := 0
		for _, id := range g.order {
			if obj, ok := m[id]; ok {
				if n > 0 {
					b.WriteByte(',')
				}
				b.Write(obj)
				n++
			}
		}
	}
	list(g.nodes)
	b.WriteString(`],"Edges":[`)
	list(g.edges)
	b.WriteString(`]}}`)
	return b.Bytes()
}

// LoadTopology sets the topology from recorded subscription frames, one
// a line: the sync and every change after it, applied in order.
func (s *Server) LoadTopology(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := s.graph.apply(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// GraphEvent applies a topology message and sends it to the topology
// subscribers, as the analyzer does with each change.
func (s *Server) GraphEvent(frame []byte) error {
	if err := s.graph.apply(frame); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if sub.graph {
			s.enqueue(sub, bytes.Clone(frame), 0)
		}
	}
	return nil
}

// Syncs is the number of SyncReply messages sent.
func (s *Server) Syncs() int {
	s.graph.mu.Lock()
	defer s.graph.mu.Unlock()
	return s.graph.syncs
}

// graphRequest answers a topology subscriber's message: a SyncRequest
// gets the whole topology.
func (s *Server) graphRequest(sub *subscriber, msg []byte) {
	var m message
	if json.Unmarshal(msg, &m) != nil || m.Namespace != "Graph" || m.Type != "SyncRequest" {
		return
	}
	go func() {
		select {
		case <-time.After(s.cfg.SyncDelay):
		case <-sub.done:
			return
		}
		reply := s.graph.syncReply(m.UUID)
		s.mu.Lock()
		s.enqueue(sub, reply, 0)
		s.mu.Unlock()
	}()
}

// Answer sets the body POST /api/topology answers to a Gremlin query;
// other queries get [].
func (s *Server) Answer(query, body string) {
	s.graph.mu.Lock()
	defer s.graph.mu.Unlock()
	if s.graph.answers == nil {
		s.graph.answers = map[string]string{}
	}
	s.graph.answers[query] = body
}

// query answers POST /api/topology as the analyzer does: an empty query
// is 204, a body that is not a query 400 in plain text.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Username != "" {
		if user, pass, ok := basicAuth(r); !ok || user != s.cfg.Username || pass != s.cfg.Password {
			http.Error(w, "Wrong credentials", http.StatusUnauthorized)
			return
		}
	}
	var req struct{ GremlinQuery string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(s.cfg.QueryDelay):
	case <-r.Context().Done():
		return
	}
	if req.GremlinQuery == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.graph.mu.Lock()
	body, ok := s.graph.answers[req.GremlinQuery]
	s.graph.mu.Unlock()
	if !ok {
		body = "[]"
	}
	w.Header().Set("Content-Type", r.Header.Get("Accept")+"; charset=UTF-8")
	io.WriteString(w, body)
}
