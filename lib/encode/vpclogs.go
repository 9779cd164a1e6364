package encode

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/stage"
)

// vpclogsVersion is the version of the IBM flow logs object.
const vpclogsVersion = "0.0.1"

// vpclogsEncoder writes an IBM Cloud VPC flow logs object. It streams: the
// user's header keys and the flow_logs array come first, and the values
// known only at the end (number_of_flow_logs, capture_start_time,
// capture_end_time, state) follow the array.
type vpclogsEncoder struct {
	w           io.Writer
	header      [][2]string
	n           int
	first, last string
	buf         []byte
}

func newVPCLogs(w io.Writer, o Options) Encoder {
	return &vpclogsEncoder{w: w, header: o.Header}
}

// ParseHeader turns key=value pairs into header fields.
func ParseHeader(pairs []string) ([][2]string, error) {
	var h [][2]string
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("header %q: want key=value", p)
		}
		switch k {
		case "version", "capture_start_time", "capture_end_time", "number_of_flow_logs", "state", "flow_logs":
			return nil, fmt.Errorf("header %q: %s is set by the encoder", p, k)
		}
		h = append(h, [2]string{k, v})
	}
	return h, nil
}

func (v *vpclogsEncoder) Record(raw []byte) error {
	var start, end string
	if _, err := jsonscan.Members(raw, func(m jsonscan.Member) error {
		switch {
		case m.Is("start_time"):
			start, _ = jsonscan.StringValue(raw[m.Start:m.End])
		case m.Is("end_time"):
			end, _ = jsonscan.StringValue(raw[m.Start:m.End])
		}
		return nil
	}); err != nil {
		return stage.BadInput(fmt.Errorf("decode: %w", err))
	}
	b := v.buf[:0]
	if v.n == 0 {
		b = v.open(b)
	} else {
		b = append(b, ',')
	}
	b = append(b, raw...)
	v.buf = b
	if _, err := v.w.Write(b); err != nil {
		return err
	}
	v.n++
	// RFC 3339 times in UTC compare as strings.
	if start != "" && (v.first == "" || start < v.first) {
		v.first = start
	}
	if end > v.last {
		v.last = end
	}
	return nil
}

func (v *vpclogsEncoder) open(b []byte) []byte {
	b = append(b, `{"version":"`+vpclogsVersion+`"`...)
	for _, kv := range v.header {
		b = append(b, ',')
		b = jsonscan.AppendString(b, kv[0])
		b = append(b, ':')
		b = jsonscan.AppendString(b, kv[1])
	}
	return append(b, `,"flow_logs":[`...)
}

func (v *vpclogsEncoder) Close() error {
	b := v.buf[:0]
	if v.n == 0 {
		b = v.open(b)
	}
	b = append(b, `],"number_of_flow_logs":`...)
	b = strconv.AppendInt(b, int64(v.n), 10)
	b = append(b, `,"capture_start_time":`...)
	b = jsonscan.AppendString(b, v.first)
	b = append(b, `,"capture_end_time":`...)
	b = jsonscan.AppendString(b, v.last)
	b = append(b, `,"state":"ok"}`+"\n"...)
	_, err := v.w.Write(b)
	return err
}
