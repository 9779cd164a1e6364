package analyzertest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Generated is what a generated topology holds, for flows that match it.
type Generated struct {
	Nodes, Edges int
	PodIPs       []string // one per pod
	CaptureTIDs  []string // each pod's interface
}

// features stands for the bulk of a real interface's metadata (its
// ethtool features), which a mirror must skip cheaply.
var features = func() string {
	var b strings.Builder
	for i := range 60 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"feature-%d-offload":%t`, i, i%3 == 0)
	}
	return "{" + b.String() + "}"
}()

// GenerateStream is GenerateTopology as a stream to read from r; info,
// once r is read to its end, says what it held.
func GenerateStream(nodes int) (r io.Reader, info func() Generated) {
	pr, pw := io.Pipe()
	gen := make(chan Generated, 1)
	go func() {
		g, err := GenerateTopology(pw, nodes)
		pw.CloseWithError(err)
		gen <- g
	}()
	return pr, func() Generated { return <-gen }
}

// GenerateTopology writes a SyncReply of a Kubernetes cluster as Skydive
// 0.28 probes describe it: hosts, each with an interface that has a routing
// source, and pods, each a network namespace with a veth, a runc container
// and the Kubernetes pod and container nodes, until about nodes nodes.
func GenerateTopology(w io.Writer, nodes int) (Generated, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var g Generated
	const podsPerHost = 20
	const perHost = 2 + 5*podsPerHost
	hosts := max(1, (nodes+perHost-1)/perHost)
	first := true
	node := func(id, metadata string) {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		fmt.Fprintf(bw, `{"ID":%q,"Metadata":{%s},"Host":"h","Origin":"agent.h","CreatedAt":1,"UpdatedAt":1,"DeletedAt":null,"Revision":1}`, id, metadata)
		g.Nodes++
	}
	var edges []string
	edge := func(parent, child, rel string) {
		edges = append(edges, fmt.Sprintf(`{"ID":"e-%s-%s","Metadata":{"RelationType":%q},"Parent":%q,"Child":%q}`, parent, child, rel, parent, child))
	}
	bw.WriteString(`{"Namespace":"Graph","Type":"SyncReply","UUID":"gen","Status":200,"Obj":{"Nodes":[`)
	for h := range hosts {
		host := fmt.Sprintf("host-%d", h)
		addr := fmt.Sprintf("192.168.%d.%d", h/250, 1+h%250)
		node(host, fmt.Sprintf(`"Name":"node-%d","TID":"tid-%s","Type":"host"`, h, host))
		node(host+"-eth0", fmt.Sprintf(`"Name":"eth0","TID":"tid-%s-eth0","Type":"device","IPV4":["%s/24"],"Features":%s,"RoutingTables":[{"ID":254,"Src":%q}]`, host, addr, features, addr))
		edge(host, host+"-eth0", "ownership")
		for p := range podsPerHost {
			pod := fmt.Sprintf("%s-pod-%d", host, p)
			ip := fmt.Sprintf("10.%d.%d.%d", h/250, h%250, 1+p)
			cid := fmt.Sprintf("%064x", h*podsPerHost+p)
			node(pod+"-ns", fmt.Sprintf(`"Name":"%s","TID":"tid-%s-ns","Type":"netns","Manager":"runc"`, pod, pod))
			node(pod+"-veth", fmt.Sprintf(`"Name":"eth0","TID":"tid-%s-veth","Type":"veth","IPV4":["%s/16"],"Features":%s,"RoutingTables":[{"ID":254,"Src":%q}]`, pod, ip, features, ip))
			node(pod+"-runc", fmt.Sprintf(`"Name":%q,"TID":"tid-%s-runc","Type":"container","Manager":"runc","Container":{"ID":%q,"Runtime":"runc","Hosts":{"IP":%q,"Hostname":"web-%d"}}`, cid, pod, cid, ip, p))
			node(pod+"-k8s", fmt.Sprintf(`"Name":"web-%d","Type":"pod","Manager":"k8s","K8s":{"Namespace":"ns-%d","Name":"web-%d","Extra":{"ObjectMeta":{"OwnerReferences":[{"Kind":"ReplicaSet","Name":"web"}]},"Status":{"ContainerStatuses":[{"ContainerID":"containerd://%s"}]}}}`, p, h, p, cid))
			node(pod+"-k8sc", fmt.Sprintf(`"Name":"web","Type":"container","Manager":"k8s","K8s":{"ContainerID":%q}`, cid))
			edge(host, pod+"-ns", "ownership")
			edge(pod+"-ns", pod+"-veth", "ownership")
			edge(pod+"-ns", pod+"-runc", "ownership")
			edge(pod+"-k8s", pod+"-k8sc", "ownership")
			edge(pod+"-k8sc", pod+"-runc", "container")
			g.PodIPs = append(g.PodIPs, ip)
			g.CaptureTIDs = append(g.CaptureTIDs, "tid-"+pod+"-veth")
		}
	}
	bw.WriteString(`],"Edges":[`)
	bw.WriteString(strings.Join(edges, ","))
	bw.WriteString("]}}\n")
	g.Edges = len(edges)
	return g, bw.Flush()
}
