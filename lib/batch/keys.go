package batch

import (
	"crypto/rand"
	"crypto/sha256"
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
	// AWS VPC Flow Logs delivery to S3, and its Hive-compatible and
	// hourly partitions: a file per 5-minute window (--window), {time}
	// its start.
	"aws":             "{prefix}/AWSLogs/{account}/vpcflowlogs/{region}/{year}/{month}/{day}/" + awsFile,
	"aws-hourly":      "{prefix}/AWSLogs/{account}/vpcflowlogs/{region}/{year}/{month}/{day}/{hour}/" + awsFile,
	"aws-hive":        "{prefix}/AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={year}/month={month}/day={day}/" + awsFile,
	"aws-hive-hourly": "{prefix}/AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={year}/month={month}/day={day}/hour={hour}/" + awsFile,
	// IBM Cloud VPC flow logs, Hive-partitioned.
	"ibm": "{prefix}/ibm_vpc_flowlogs_v1/account={account}/region={region}/vpc-id={vpc}/subnet-id={subnet}/endpoint-type=vnics/instance-id={instance}/vnic-id={vnic}/record-type={recordtype}/year={year}/month={month}/day={day}/hour={hour}/stream-id={created}/{seq}{ext}",
}

// awsFile is the name AWS gives a flow logs file.
const awsFile = "{account}_vpcflowlogs_{region}_{flowlog}_{time}_{hash}.log{ext}"

var placeholder = regexp.MustCompile(`\{([a-z]+)\}`)

// builtin are the placeholders the batcher fills.
var builtin = map[string]bool{
	"prefix": true, "group": true, "recordtype": true, "stream": true, "created": true, "seq": true, "host": true, "random": true, "hash": true, "ext": true,
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "date": true, "time": true,
}

// template makes object keys.
type template struct {
	text, prefix string
	vars         map[string]string
	created      bool // it has {created}
}

// maxKey is S3's limit on the length of a key, in bytes.
const maxKey = 1024

// newTemplate checks a key template before any record: every placeholder
// known or given; a part that differs from object to object ({random},
// or {stream} with {seq}); no control character; and no key it can make
// may escape (an empty, "." or ".." segment) or pass S3's 1024 bytes.
func newTemplate(text, prefix string, vars map[string]string) (*template, error) {
	used := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		if !builtin[m[1]] && vars[m[1]] == "" {
			return nil, fmt.Errorf("key template: {%s} is neither built in nor given with --var %s=...", m[1], m[1])
		}
		used[m[1]] = true
	}
	for k := range vars {
		if builtin[k] {
			return nil, fmt.Errorf("--var %s: built in, cannot be set", k)
		}
	}
	if !used["random"] && !used["hash"] && !((used["stream"] || used["created"]) && used["seq"]) {
		return nil, fmt.Errorf("key template %q: no part differs from object to object: use {random} or {hash}, or {stream} (or {created}) and {seq}", text)
	}
	for _, c := range []byte(text) {
		if c < 0x20 || c == 0x7f {
			return nil, fmt.Errorf("key template %q: control character %#x", text, c)
		}
	}
	t := &template{text: text, prefix: prefix, vars: vars, created: used["created"]}
	// The longest values each placeholder can take.
	longest := keyValues{group: strings.Repeat("x", maxValue+1), host: strings.Repeat("x", maxValue+1), created: streamFormat,
		stream: strings.Repeat("9", len(streamFormat)+1+streamIDLen), seq: 99999999, first: time.Now()}
	return t, t.check(longest)
}

// check makes a key of values v as the template would.
func (t *template) check(v keyValues) error {
	key, err := t.key(v)
	if err != nil {
		return fmt.Errorf("key template %q: %w", t.text, err)
	}
	if len(key) > maxKey {
		return fmt.Errorf("key template %q: keys of up to %d bytes, over S3's %d", t.text, len(key), maxKey)
	}
	return nil
}

// keyValues are the values of one object's key.
type keyValues struct {
	group, stream, host string
	// created is the time the first object of the folder above {created}
	// was made (IBM's stream-id), as streamFormat.
	created string
	seq     int
	first   time.Time // the object's first record
}

// recordType is IBM's record-type of a group: ingress and egress as they
// are, anything else (internal, other, a group that is no tag) all, the
// values IBM documents.
func recordType(group string) string {
	if group == "ingress" || group == "egress" {
		return group
	}
	return "all"
}

// maxValue is the longest group or host value a key takes as it is.
const maxValue = 64

// keyValue makes a group or host value one key segment that no other
// value makes: as it is when it is safe and short; else cleaned, cut to
// maxValue and followed by "~" and a hash of the value ("~" is never
// in a safe value, so a clean value cannot take another's place).
func keyValue(v string) string {
	s := safe(v)
	if s == v && len(v) <= maxValue {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return s[:min(len(s), maxValue-11)] + "~" + hex.EncodeToString(sum[:5])
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
		"group": keyValue(v.group), "recordtype": recordType(v.group), "stream": safe(v.stream), "created": safe(v.created),
		"seq":  fmt.Sprintf("%08d", v.seq),
		"host": keyValue(v.host), "random": hex.EncodeToString(random), "hash": hex.EncodeToString(random[:4]),
		"year": f.Format("2006"), "month": f.Format("01"), "day": f.Format("02"), "hour": f.Format("15"),
		"minute": f.Format("04"), "date": f.Format("20060102"), "time": f.Format("20060102T1504Z"),
	}
	var segs []string
	for _, s := range strings.Split(t.prefix, "/") {
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
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) || path.Clean(key) != key {
		return fmt.Errorf("key %q: not a clean relative path", key)
	}
	for _, s := range strings.Split(key, "/") {
		if s == "" || s == "." || s == ".." {
			return fmt.Errorf("key %q: bad segment %q", key, s)
		}
	}
	return nil
}
