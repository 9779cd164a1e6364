package transform

import (
	"encoding/json"
	"testing"

	"github.com/skyflows/skyflows/lib/fill"
	"github.com/skyflows/skyflows/lib/secadvisor"
	"github.com/skyflows/skyflows/lib/vpclogs"
)

// TestWritersMatchJSON: the records' hand-written JSON writers write what
// encoding/json writes from their json tags, every field set: a field
// added to a record and not to its writer fails here.
func TestWritersMatchJSON(t *testing.T) {
	for name, rec := range map[string]Appender{"secadvisor": &secadvisor.Record{}, "vpclogs": &vpclogs.Record{}} {
		fill.Struct(rec)
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
