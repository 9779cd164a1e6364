package batch

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Layouts are the key templates users know.
var Layouts = map[string]string{
	// The original exporter's keys.
	"original": "{prefix}/{group}/{stream}/{seq}{ext}",
	// AWS VPC Flow Logs delivery to S3.
	"aws": "{prefix}/AWSLogs/{account}/vpcflowlogs/{region}/{year}/{month}/{day}/{account}_vpcflowlogs_{region}_{flowlog}_{time}_{random}.log{ext}",
	// IBM Cloud VPC flow logs, Hive-partitioned.
	"ibm": "{prefix}/ibm_vpc_flowlogs_v1/account={account}/region={region}/vpc-id={vpc}/subnet-id={subnet}/endpoint-type=vnics/instance-id={instance}/vnic-id={vnic}/record-type={group}/year={year}/month={month}/day={day}/hour={hour}/stream-id={stream}/{seq}{ext}",
}

var placeholder = regexp.MustCompile(`\{([a-z]+)\}`)

// builtin are the placeholders the batcher fills.
var builtin = map[string]bool{
	"prefix": true, "group": true, "stream": true, "seq": true, "host": true, "random": true, "ext": true,
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "date": true, "time": true,
}

// template makes object keys.
type template struct {
	text string
	vars map[string]string
}

// newTemplate checks that every placeholder of text is known or given.
func newTemplate(text string, vars map[string]string) (*template, error) {
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		if !builtin[m[1]] && vars[m[1]] == "" {
			return nil, fmt.Errorf("key template: {%s} is neither built in nor given with --var %s=...", m[1], m[1])
		}
	}
	for k := range vars {
		if builtin[k] {
			return nil, fmt.Errorf("--var %s: built in, cannot be set", k)
		}
	}
	return &template{text: text, vars: vars}, nil
}

// keyValues are the values of one object's key.
type keyValues struct {
	prefix, group, stream, host, ext string
	seq                              int
	first                            time.Time // the object's first record
}

// safe makes a value one harmless key segment: letters, digits and
// ". _ - = :" only, never "." or "..".
func safe(v string) string {
	b := []byte(v)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '=' || c == ':'
		if !ok {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return s
}

// key fills the template. Every value is one safe segment; the prefix may
// have several. The key is checked to stay below the bucket's root.
func (t *template) key(v keyValues) (string, error) {
	random := make([]byte, 8)
	rand.Read(random)
	f := v.first.UTC()
	values := map[string]string{
		"group": safe(v.group), "stream": safe(v.stream), "seq": fmt.Sprintf("%08d", v.seq),
		"host": safe(v.host), "random": hex.EncodeToString(random), "ext": v.ext,
		"year": f.Format("2006"), "month": f.Format("01"), "day": f.Format("02"), "hour": f.Format("15"),
		"minute": f.Format("04"), "date": f.Format("20060102"), "time": f.Format("20060102T1504Z"),
	}
	var segs []string
	for _, s := range strings.Split(v.prefix, "/") {
		if s != "" {
			segs = append(segs, safe(s))
		}
	}
	values["prefix"] = strings.Join(segs, "/")
	for k, val := range t.vars {
		values[k] = safe(val)
	}
	key := placeholder.ReplaceAllStringFunc(t.text, func(m string) string { return values[m[1:len(m)-1]] })
	key = strings.TrimLeft(key, "/")
	if err := checkKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// checkKey refuses a key that is empty, absolute, or has an empty, "." or
// ".." segment: such a key could escape a directory it is joined to.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") || path.Clean(key) != key {
		return fmt.Errorf("key %q: not a clean relative path", key)
	}
	for _, s := range strings.Split(key, "/") {
		if s == "" || s == "." || s == ".." {
			return fmt.Errorf("key %q: bad segment %q", key, s)
		}
	}
	return nil
}
