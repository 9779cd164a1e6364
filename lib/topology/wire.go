package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// wireNode is a node or an edge as the analyzer sends it, with only the
// metadata the lookups read; the rest is skipped while decoding.
type wireNode struct {
	ID       string
	Parent   string
	Child    string
	Metadata struct {
		TID, Type, Name, Manager string
		IPV4                     []string
		RoutingTables            []struct{ Src string }
		Runc                     *struct {
			ContainerID string
			Hosts       struct{ IP, Hostname string }
		}
		Docker    *struct{ ContainerID string }
		Container *struct {
			ID    string
			Hosts struct{ IP, Hostname string }
		}
		K8s *struct {
			Namespace, Name string
			Extra           struct {
				ObjectMeta struct {
					OwnerReferences []struct{ Kind, Name string }
				}
				Status struct {
					ContainerStatuses []struct{ ContainerID string }
					Addresses         []struct{ Type, Address string }
				}
			}
		}
	}
}

// node keeps what the lookups read.
func (w *wireNode) node() *decoded {
	m := &w.Metadata
	d := &decoded{}
	str := func(v string) span {
		sp := span{uint32(len(d.data)), uint32(len(v))}
		d.data = append(d.data, v...)
		return sp
	}
	list := func(items [][16]byte) span {
		sp := span{uint32(len(d.data)), uint32(16 * len(items))}
		for _, it := range items {
			d.data = append(d.data, it[:]...)
		}
		return sp
	}
	d.id, d.tid = keyOf(w.ID), keyOf(m.TID)
	d.typ, d.name, d.manager = str(m.Type), str(m.Name), str(m.Manager)
	var ipv4, src [][16]byte
	for _, a := range m.IPV4 {
		a, _, _ = strings.Cut(a, "/")
		if addr, ok := parseAddr(a); ok {
			ipv4 = append(ipv4, ipOf(addr))
		}
	}
	for _, rt := range m.RoutingTables {
		if addr, ok := parseAddr(rt.Src); ok && !slices.Contains(src, [16]byte(ipOf(addr))) {
			src = append(src, ipOf(addr))
		}
	}
	d.ipv4, d.src = list(ipv4), list(src)
	var containerID, hostsIP, hostname string
	switch {
	case m.Runc != nil:
		containerID, hostsIP, hostname = m.Runc.ContainerID, m.Runc.Hosts.IP, m.Runc.Hosts.Hostname
	case m.Docker != nil:
		containerID = m.Docker.ContainerID
	case m.Container != nil: // Skydive 0.28 and later, runc and docker alike
		containerID, hostsIP, hostname = m.Container.ID, m.Container.Hosts.IP, m.Container.Hosts.Hostname
	}
	d.containerID, d.hostname = keyOf(containerID), str(hostname)
	if a, ok := parseAddr(hostsIP); ok {
		d.hostsIP = ipOf(a)
	}
	if k := m.K8s; k != nil && m.Manager == "k8s" {
		switch m.Type {
		case "pod":
			name, set := k.Namespace+"/"+k.Name, ""
			if refs := k.Extra.ObjectMeta.OwnerReferences; len(refs) > 0 {
				set = refs[0].Kind + ":" + k.Namespace + "/" + refs[0].Name
			}
			d.podName, d.podSet, d.podLegacy = str(name), str(set), str(LegacyName(name))
			var ids [][16]byte
			for _, cs := range k.Extra.Status.ContainerStatuses {
				if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok && id != "" {
					ids = append(ids, keyOf(id).bytes())
				}
			}
			d.podContainers = list(ids)
		case "node":
			if a, ok := parseAddr(nodeAddress(k.Extra.Status.Addresses)); ok {
				d.k8sAddr = ipOf(a)
			}
		}
	}
	return d
}

// edge is the edge w is.
func (w *wireNode) edge() edge { return edge{keyOf(w.Parent), keyOf(w.Child)} }

// nodeAddress is a Kubernetes node's first ExternalIP, else its first
// InternalIP.
func nodeAddress(addrs []struct{ Type, Address string }) string {
	for _, want := range []string{"ExternalIP", "InternalIP"} {
		for _, a := range addrs {
			if a.Type == want {
				return a.Address
			}
		}
	}
	return ""
}

// parseAddr reads an address; IPv4-mapped IPv6 ones count as IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// ErrReply is a reply of the analyzer that carries an error.
var ErrReply = errors.New("the analyzer answered with an error")

// Apply reads one message of the topology subscription from r and applies
// it to g: a SyncReply replaces the picture (its nodes are streamed, not
// held whole), graph events change it, other namespaces are skipped.
func (g *Graph) Apply(r io.Reader) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var namespace, typ string
	status := 200
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		switch key {
		case "Namespace":
			err = dec.Decode(&namespace)
		case "Type":
			err = dec.Decode(&typ)
		case "Status":
			err = dec.Decode(&status)
		case "Obj":
			if namespace == "" || typ == "" {
				return fmt.Errorf("message with Obj before its Namespace and Type")
			}
			err = g.obj(dec, namespace, typ, status)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// obj decodes and applies the Obj of a message.
func (g *Graph) obj(dec *json.Decoder, namespace, typ string, status int) error {
	if namespace != "Graph" {
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	if status != 200 {
		var obj json.RawMessage
		dec.Decode(&obj)
		return fmt.Errorf("%w: %s status %d: %.200s", ErrReply, typ, status, obj)
	}
	if typ == "SyncReply" {
		return g.sync(dec)
	}
	var w wireNode
	if err := decodeNode(dec, &w); err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	switch typ {
	case "NodeAdded", "NodeUpdated":
		g.SetNode(w.node())
	case "NodeDeleted":
		g.DeleteNode(w.ID)
	case "EdgeAdded", "EdgeUpdated":
		g.SetEdge(w.ID, w.edge())
	case "EdgeDeleted":
		g.DeleteEdge(w.ID)
	}
	return nil
}

// sync reads the {"Nodes":[...],"Edges":[...]} of a SyncReply one element
// at a time.
func (g *Graph) sync(dec *json.Decoder) error {
	s := newState()
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err // a null Obj: an empty graph
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("SyncReply: Obj is not an object")
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			continue
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("SyncReply: %v is not a list", key)
		}
		for dec.More() {
			var w wireNode
			if err := decodeNode(dec, &w); err != nil {
				return fmt.Errorf("SyncReply: %w", err)
			}
			if key == "Edges" {
				s.addEdge(keyOf(w.ID), w.edge())
			} else if key == "Nodes" {
				s.addNode(w.node())
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	g.replace(s)
	return nil
}

// decodeNode decodes one node or edge; metadata of an unexpected type is
// left out, not an error (probes add fields of their own).
func decodeNode(dec *json.Decoder, w *wireNode) error {
	err := dec.Decode(w)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && w.ID != "" {
		return nil
	}
	if err == nil && w.ID == "" {
		return errors.New("node or edge without ID")
	}
	return err
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("want %q, got %v", d, tok)
	}
	return nil
}
