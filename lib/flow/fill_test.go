package flow

import (
	"reflect"
	"testing"

	"github.com/skyflows/skyflows/lib/fill"
)

// TestEveryFieldDecodes: a flow with every field set, written from its
// json tags (jsoniter, as encoding/json but for raw layers), decodes into
// the same flow: the decoder's tables know every field of the type, so a
// field added to the type and not to them fails here.
func TestEveryFieldDecodes(t *testing.T) {
	var f Flow
	fill.Struct(&f)
	f.Network.Protocol, f.Link.Protocol, f.Transport.Protocol, f.ICMP.Type = "IPV4", "ETHERNET", "TCP", "ECHO"
	data, err := JSON.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	var g Flow
	if err := Decode(data, &g); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("decoded:\n%+v\nwant:\n%+v\nfrom %s", g, f, data)
	}
}
