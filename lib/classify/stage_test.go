package classify

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/skyflows/skyflows/lib/analyzertest"
	"github.com/skyflows/skyflows/lib/stagetest"
)

func BenchmarkClassify(b *testing.B) {
	stagetest.Bench(b, stagetest.Flows(b, 10000), Run, "sky-classify", "-q")
}

// TestAutodiscover: a Kubernetes node's ExternalIP counts as inside the
// cluster while the node is in the topology, and only then.
func TestAutodiscover(t *testing.T) {
	srv, err := analyzertest.Start(analyzertest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	frames, err := os.ReadFile("../../testdata/topology/graph-frames.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	// The sync alone, which holds the Kubernetes node vm (ExternalIP 203.0.113.10).
	if err := srv.LoadTopology(bytes.NewReader(bytes.Split(frames, []byte("\n"))[3])); err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Run([]string{"sky-classify", "--autodiscover", "--analyzer", srv.URL(), "--cluster-net", "10.0.0.0/8"}, inR, outW, errW)
		outW.Close()
		inR.Close()
		errW.Close()
	}()
	logs := bufio.NewScanner(errR)
	logged := func(want string) {
		t.Helper()
		for logs.Scan() {
			if strings.Contains(logs.Text(), want) {
				return
			}
		}
		t.Fatalf("no log line with %q", want)
	}
	records := bufio.NewScanner(outR)
	tag := func() string {
		t.Helper()
		if _, err := io.WriteString(inW, `{"Network":{"Protocol":"IPV4","A":"10.1.2.3","B":"203.0.113.10"}}`+"\n"); err != nil {
			t.Fatal(err)
		}
		if !records.Scan() {
			t.Fatal("no record")
		}
		return records.Text()
	}
	logged("1 Kubernetes node addresses inside the cluster: [203.0.113.10/32]")
	if got := tag(); !strings.Contains(got, `"Tag":"internal"`) {
		t.Errorf("node known: %s", got)
	}
	srv.GraphEvent([]byte(`{"Namespace":"Graph","Type":"NodeDeleted","UUID":"x","Status":200,"Obj":{"ID":"a36f32a7-67ea-43cf-b08e-cfa1e31e622b","Metadata":{}}}`))
	logged("0 Kubernetes node addresses inside the cluster: []")
	if got := tag(); !strings.Contains(got, `"Tag":"egress"`) {
		t.Errorf("node gone: %s", got)
	}
	// It comes back with another ExternalIP.
	node, err := os.ReadFile("testdata/k8s-node.json")
	if err != nil {
		t.Fatal(err)
	}
	node = bytes.ReplaceAll(node, []byte(`"203.0.113.10"`), []byte(`"203.0.113.11"`))
	srv.GraphEvent(append(append([]byte(`{"Namespace":"Graph","Type":"NodeAdded","UUID":"y","Status":200,"Obj":`), node...), '}'))
	logged("1 Kubernetes node addresses inside the cluster: [203.0.113.11/32]")
	if got := tag(); !strings.Contains(got, `"Tag":"egress"`) {
		t.Errorf("node back with another address: %s", got)
	}
	inW.Close()
	go io.Copy(io.Discard, errR)
	for records.Scan() {
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
