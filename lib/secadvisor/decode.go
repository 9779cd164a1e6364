package secadvisor

import (
	"fmt"

	jsoniter "github.com/json-iterator/go"

	"github.com/skyflows/skyflows/lib/flow"
	"github.com/skyflows/skyflows/lib/jsonscan"
)

// Decode reads a record from its JSON text in one pass, as flow.Decode
// reads a flow, in a third less time than reflection took over the
// recorded flows' records (sky-batch's profile): unknown fields are skipped,
// null is the zero value, and a field of another type is an error that
// names it. Context and Extend, which only enriched records hold, are
// read by reflection. see, if not nil, is handed the top-level members
// it wants first, and those it skips are left out.
func Decode(data []byte, r *Record, see *jsonscan.See) error {
	*r = Record{}
	if r.readInOrder(data, see) {
		return nil
	}
	return r.read(data, see)
}

// read reads the record at data the long way, whatever the order and
// spacing of its members.
func (r *Record) read(data []byte, see *jsonscan.See) error {
	*r = Record{}
	return jsonscan.WalkText(data, func(m jsonscan.Member) (int, error) {
		return r.member(string(m.Unescaped()), data, m.Start)
	}, see)
}

// member reads the member named key, whose value starts at data[i], and
// returns its end.
func (r *Record) member(key string, data []byte, i int) (int, error) {
	switch key {
	case "Network":
		return layer(&r.Network, data, i, "Network")
	case "Transport":
		return layer(&r.Transport, data, i, "Transport")
	case "LastUpdateMetric":
		return flow.ReadMetric(&r.LastUpdateMetric, data, i, "LastUpdateMetric")
	case "Metric":
		return flow.ReadMetric(&r.Metric, data, i, "Metric")
	case "Start":
		return flow.ReadIntAt(&r.Start, data, i, "Start")
	case "Last":
		return flow.ReadIntAt(&r.Last, data, i, "Last")
	case "UpdateCount":
		return flow.ReadIntAt(&r.UpdateCount, data, i, "UpdateCount")
	}
	end, k, err := jsonscan.Skip(data, i)
	if err != nil {
		return end, err
	}
	return end, r.scalar(key, data[i:end], k)
}

// topNames are a record's members in the order AppendJSON writes them;
// topKeys are their keys as written, quotes and colon.
var (
	topNames = [...]string{"UUID", "LayersPath", "Version", "Status", "FinishType", "Network", "Transport", "Context",
		"LastUpdateMetric", "Metric", "Start", "Last", "UpdateCount", "NodeType", "LogStatus", "LinkID", "Extend", "Tag"}
	topKeys [len(topNames)]string
)

func init() {
	for i, n := range topNames {
		topKeys[i] = `"` + n + `":`
	}
}

// readInOrder reads the record at d when it is written as AppendJSON
// writes one: its members in topNames' order (any left out), no white
// space inside. Each key is compared to the ones that may come next,
// not scanned and looked up (walking a record's top level took a tenth
// of its Parquet time). It returns false, and Decode reads the record
// the long way, for any other text or any error (see may be handed a
// member again then).
func (r *Record) readInOrder(d []byte, see *jsonscan.See) bool {
	if len(d) == 0 || d[0] != '{' {
		return false
	}
	for i, next := 1, 0; ; {
		k, start := next, -1
		for ; k < len(topKeys); k++ {
			if start = jsonscan.After(d, i, topKeys[k]); start >= 0 {
				break
			}
		}
		if start < 0 || start >= len(d) {
			return false
		}
		skip := false
		if see != nil {
			var err error
			if skip, err = see.Hand(jsonscan.Member{Key: d[i+1 : start-2], Start: start}); err != nil {
				return false
			}
		}
		var end int
		var err error
		if skip {
			end, _, err = jsonscan.Skip(d, start)
		} else {
			end, err = r.member(topNames[k], d, start)
		}
		if err != nil || end >= len(d) {
			return false
		}
		i, next = end+1, k+1
		switch d[end] {
		case ',':
		case '}':
			return jsonscan.End(d, i) == nil
		default:
			return false
		}
	}
}

// scalar sets the field named key, whose value is v.
func (r *Record) scalar(key string, v []byte, k jsonscan.Kind) error {
	switch key {
	case "UUID":
		return flow.ReadText(&r.UUID, v, k, "UUID")
	case "LayersPath":
		return flow.ReadString(&r.LayersPath, v, k, "LayersPath")
	case "Version":
		return fixed(&r.Version, v, k, "Version", Version)
	case "Status":
		return fixed(&r.Status, v, k, "Status", Started, Updated, Ended)
	case "FinishType":
		return flow.ReadString(&r.FinishType, v, k, "FinishType")
	case "NodeType":
		return flow.ReadString(&r.NodeType, v, k, "NodeType")
	case "LogStatus":
		return fixed(&r.LogStatus, v, k, "LogStatus", OK, NoData, SkipData)
	case "Tag":
		return flow.ReadString(&r.Tag, v, k, "Tag")
	case "LinkID":
		if k == jsonscan.Null {
			return nil
		}
		r.LinkID = new(int64)
		return flow.ReadInt(r.LinkID, v, k, "LinkID")
	case "Context":
		return reflected(&r.Context, v, "Context")
	case "Extend":
		return reflected(&r.Extend, v, "Extend")
	}
	return nil
}

// fixed sets dst to the string v, which is usually one of known: then
// the constant, not a new string.
func fixed(dst *string, v []byte, k jsonscan.Kind, name string, known ...string) error {
	if k == jsonscan.String {
		for _, s := range known {
			if s == string(v[1:len(v)-1]) {
				*dst = s
				return nil
			}
		}
	}
	return flow.ReadText(dst, v, k, name)
}

// layer reads the Network or Transport layer at d[i]; null leaves dst nil.
func layer(dst **Layer, d []byte, i int, name string) (int, error) {
	if d[i] != '{' {
		end, k, err := jsonscan.Skip(d, i)
		if err == nil && k != jsonscan.Null {
			err = fmt.Errorf("%s: want an object, got %s", name, k)
		}
		return end, err
	}
	l := &Layer{}
	*dst = l
	return jsonscan.Walk(d, i, func(m jsonscan.Member) (int, error) {
		end, k, err := jsonscan.Skip(d, m.Start)
		if err != nil {
			return end, err
		}
		v := d[m.Start:end]
		switch string(m.Unescaped()) {
		case "Protocol":
			err = flow.ReadString(&l.Protocol, v, k, "Protocol")
		case "A":
			err = flow.ReadText(&l.A, v, k, "A")
		case "B":
			err = flow.ReadText(&l.B, v, k, "B")
		case "A_Name":
			err = flow.ReadText(&l.AName, v, k, "A_Name")
		case "B_Name":
			err = flow.ReadText(&l.BName, v, k, "B_Name")
		}
		if err != nil {
			err = fmt.Errorf("%s.%w", name, err)
		}
		return end, err
	})
}

// reflected reads v into dst by reflection, field names matched as
// written, as the rest of the record is (encoding/json's compatible
// configuration matched them in any case: {"Set":...} and {"SeT":...}
// read alike).
func reflected(dst any, v []byte, name string) error {
	if err := asWritten.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

var asWritten = jsoniter.Config{CaseSensitive: true}.Froze()
