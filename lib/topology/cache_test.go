package topology

import (
	"encoding/json"
	"testing"
)

// TestCompact: a cached context keeps its values and writes the JSON that
// encoding/json writes, whether its strings need escaping or not.
func TestCompact(t *testing.T) {
	for _, c := range []Context{
		webPod,
		{Type: Pod, Name: "default/solo", Legacy: LegacyName("default/solo")},
		curl, host,
		{Type: Container, Name: `quo"te\back<html>&é` + "\u2028"},
		{Type: Pod, Name: "ns/a", Set: `ReplicaSet:ns/"x"`, Legacy: LegacyName("ns/a")},
	} {
		got := compact(c)
		want, _ := json.Marshal(c)
		if got.Type != c.Type || got.Name != c.Name || got.Set != c.Set || got.Legacy != c.Legacy {
			t.Errorf("%+v compacted to %+v", c, got)
		}
		if enc := string(got.AppendJSON(nil)); enc != string(want) || string(c.AppendJSON(nil)) != string(want) {
			t.Errorf("%+v: JSON %s and %s, want %s", c, enc, c.AppendJSON(nil), want)
		}
	}
}
