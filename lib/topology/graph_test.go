package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// The recording's capture points and the pod behind 10.99.0.2.
const (
	vethA = "5ca4e372-f3c8-53de-a3c4-3f347924ae70" // veth-sda, 10.99.0.1, netns sdtest-a
	vethB = "f54207de-9966-57a5-869e-be5276ad1f71" // veth-sdb, 10.99.0.2, netns sdtest-b
)

var (
	webPod = Context{Type: Pod, Name: "default/web-5d4f8b7c9d-x7k2p", Set: "ReplicaSet:default/web-5d4f8b7c9d",
		Legacy: "0_0_default-web-5d4f8b7c9d-x7k2p_0"}
	curl = Context{Type: Container, Name: "curl-client"}
	host = Context{Type: Host, Name: "skydive-aio-test"}
	none = Context{}
)

// frames are the lines of a recorded topology subscription.
func frames(t testing.TB, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/topology/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

// replay applies frames [0, n) to a new graph.
func replay(t testing.TB, lines [][]byte, n int) *Graph {
	t.Helper()
	g := NewGraph(nil)
	for i, l := range lines[:n] {
		if err := g.Apply(bytes.NewReader(l)); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	return g
}

func resolve(g *Graph, addr, tid string) Context {
	c, _ := g.Resolve(addr, tid)
	return c
}

// TestRecording replays the recorded subscription and asks who is behind
// each address as pods, containers and namespaces come and go.
func TestRecording(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	cases := []struct {
		frames     int // applied
		addr, from string
		want       Context
	}{
		{3, "10.99.0.2", vethB, none}, // events before the sync only
		{4, "127.0.0.1", "", host},    // the host's lo: routing source
		{4, "10.99.0.2", vethB, none},
		{4, "192.0.2.2", "", host},
		{66, "10.99.0.2", vethB, none}, // a runc container, no pod yet: Hosts.IP is set at frame 69
		{69, "10.99.0.2", vethB, Context{Type: Container, Name: "web-5d4f8b7c9d-x7k2p"}},
		{72, "10.99.0.1", vethA, curl},   // 0.28 docker container in sdtest-a
		{76, "10.99.0.2", vethA, webPod}, // the pod came with its container id
		{96, "10.99.0.2", vethB, webPod}, // a legacy Runc.* node for the same container
		{170, "10.99.0.1", vethA, curl},  // 0.28 node gone, the legacy Docker.* node answers
		{176, "10.99.0.1", vethA, host},  // both gone: eth1's routing source, owned by the host
		{193, "10.99.0.1", vethA, host},  // netns sdtest-a deleted
		{len(lines), "10.99.0.1", vethA, curl},
		{len(lines), "10.99.0.2", vethA, webPod},
		{len(lines), "10.99.0.2", "unknown-tid", webPod},
		{len(lines), "8.8.8.8", vethA, none},
		{len(lines), "not an address", vethA, none},
	}
	for _, c := range cases {
		g := replay(t, lines, c.frames)
		if got := resolve(g, c.addr, c.from); got != c.want {
			t.Errorf("after %d frames, %s from %s: got %+v, want %+v", c.frames, c.addr, c.from, got, c.want)
		}
	}
	g := replay(t, lines, len(lines))
	if got := g.NodeType(vethA); got != "veth" {
		t.Errorf("NodeType = %q", got)
	}
	if got, ok := g.Addresses(vethB); !ok || !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")}) {
		t.Errorf("Addresses = %v %v", got, ok)
	}
	if got := g.ClusterNodes(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("203.0.113.10/32")}) {
		t.Errorf("ClusterNodes = %v", got)
	}
}

// TestFallbacks takes the final picture apart, one resolver at a time.
func TestFallbacks(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	deleted := func(ids ...string) *Graph {
		g := replay(t, lines, len(lines))
		for _, id := range ids {
			g.DeleteNode(id)
		}
		return g
	}
	const (
		pod        = "fc11ae41-06be-4da6-9f45-dd2c55250338"
		runc028    = "066bce4d-a8a9-43cc-81c5-02abcfc3b9b6"
		runcLegacy = "413498a1-2b23-46a7-b650-d0b8cfd6face"
		docker028  = "1a7058c4-0b4a-4d0e-a4e8-b1c7d2e93f33"
	)
	g := deleted(pod)
	if got := resolve(g, "10.99.0.2", vethB); got != (Context{Type: Container, Name: "web-5d4f8b7c9d-x7k2p"}) {
		t.Errorf("no pod: %+v", got)
	}
	g = deleted(runcLegacy)
	if got := resolve(g, "10.99.0.2", vethB); got != webPod {
		t.Errorf("0.28 runc only: %+v", got)
	}
	g = deleted(runc028)
	if got := resolve(g, "10.99.0.2", vethB); got != webPod {
		t.Errorf("legacy runc only: %+v", got)
	}
	g = deleted(runc028, runcLegacy)
	if got := resolve(g, "10.99.0.2", vethB); got != none {
		t.Errorf("no container: %+v", got)
	}
	var ids []string
	for _, l := range lines {
		var msg struct {
			Obj struct {
				ID       string
				Metadata struct{ Type, Name string }
			}
		}
		json.Unmarshal(l, &msg)
		if m := msg.Obj.Metadata; m.Type == "container" && m.Name == "curl-client" && !slices.Contains(ids, msg.Obj.ID) {
			ids = append(ids, msg.Obj.ID)
		}
	}
	g = deleted(ids...)
	if got := resolve(g, "10.99.0.1", vethA); got != host {
		t.Errorf("no docker container: %+v", got)
	}
}

// TestPodWithoutOwner: a pod that no ReplicaSet or DaemonSet owns has no Set.
func TestPodWithoutOwner(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	g := replay(t, lines, len(lines))
	msg := bytes.Replace(lines[75], []byte(`"OwnerReferences":[{`), []byte(`"OwnerReferences":[],"x":[{`), 1)
	msg = bytes.Replace(msg, []byte(`"NodeAdded"`), []byte(`"NodeUpdated"`), 1)
	before := g.Generation()
	if err := g.Apply(bytes.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if got := resolve(g, "10.99.0.2", vethB); got != (Context{Type: Pod, Name: webPod.Name, Legacy: webPod.Legacy}) {
		t.Errorf("got %+v", got)
	}
	if g.Generation() == before {
		t.Error("a change that alters a lookup left the generation")
	}
}

// TestRefreshes: the no-change updates of capturing interfaces, about one
// a second, leave the generation alone.
func TestRefreshes(t *testing.T) {
	lines := frames(t, "graph-frames.ndjson")
	g := replay(t, lines, len(lines))
	before := g.Generation()
	for _, i := range []int{260, 261, 263, 275, 276} {
		if err := g.Apply(bytes.NewReader(lines[i])); err != nil {
			t.Fatal(err)
		}
	}
	if g.Generation() != before {
		t.Errorf("generation moved from %d to %d on refreshes", before, g.Generation())
	}
}

func TestErrorReply(t *testing.T) {
	lines := frames(t, "graph-frames-syncrequest-badfilter.ndjson")
	g := NewGraph(nil)
	err := g.Apply(bytes.NewReader(lines[0]))
	if !errors.Is(err, ErrReply) {
		t.Fatalf("got %v", err)
	}
	if g.Synced() {
		t.Error("an error reply counts as a sync")
	}
}

func TestBadMessages(t *testing.T) {
	for _, msg := range []string{``, `[]`, `{"Obj":{}}`, `{"Namespace":"Graph","Type":"NodeAdded","Obj":{}}`,
		`{"Namespace":"Graph","Type":"SyncReply","Obj":{"Nodes":{}}}`, `{"Namespace":"Graph","Type":"SyncReply","Obj":[]}`} {
		if err := NewGraph(nil).Apply(bytes.NewReader([]byte(msg))); err == nil {
			t.Errorf("%q: no error", msg)
		}
	}
	// Metadata of unexpected types is left out, not an error.
	g := NewGraph(nil)
	msg := `{"Namespace":"Graph","Type":"NodeAdded","Obj":{"ID":"x","Metadata":{"TID":"t","Type":"veth","IPV4":"10.0.0.1/8","Name":7}}}`
	if err := g.Apply(bytes.NewReader([]byte(msg))); err != nil || g.NodeType("t") != "veth" {
		t.Errorf("got %v, type %q", err, g.NodeType("t"))
	}
}

func TestLegacyName(t *testing.T) {
	if got := LegacyName("default/web-5d4f8b7c9d-x7k2p"); got != "0_0_default-web-5d4f8b7c9d-x7k2p_0" {
		t.Errorf("got %q", got)
	}
	if got := LegacyName("a_b.c/é"); got != "0_0_a-b.c--_0" {
		t.Errorf("got %q", got)
	}
}

// FuzzApply applies a message to an empty graph, and its lines, one
// message each, to the recording's picture.
func FuzzApply(f *testing.F) {
	lines := frames(f, "graph-frames.ndjson")
	for _, l := range lines[:8] {
		f.Add(l)
	}
	f.Add([]byte(`{"Namespace":"Graph","Type":"EdgeAdded","Obj":{"ID":"e","Parent":"a","Child":"b"}}`))
	f.Add(bytes.Join(lines[95:110], []byte("\n")))
	f.Add(bytes.Join(lines[160:200], []byte("\n")))
	f.Fuzz(func(t *testing.T, msg []byte) {
		g := NewGraph(nil)
		g.Apply(bytes.NewReader(msg))
		g.Resolve("10.99.0.2", vethB)
		g.ClusterNodes()
		g = replay(t, lines, 80)
		for _, m := range bytes.Split(msg, []byte("\n")) {
			g.Apply(bytes.NewReader(m))
		}
		g.Resolve("10.99.0.2", vethB)
		g.Resolve("10.99.0.1", vethA)
		g.ClusterNodes()
		if err := consistent(g.s); err != nil {
			t.Fatal(err)
		}
	})
}
