package natsbus

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// subject is a --subject template: literal text and {Field.Path} values,
// each cleaned into one subject token.
type subject struct {
	parts  []string   // literal text, between fields
	fields [][]string // the field paths, one fewer than parts
}

func parseSubject(tmpl string) (*subject, error) {
	if tmpl == "" {
		return nil, fmt.Errorf("--subject: empty")
	}
	s := &subject{}
	rest := tmpl
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			s.parts = append(s.parts, rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("--subject %q: a { without its }", tmpl)
		}
		field := rest[open+1 : open+end]
		if field == "" {
			return nil, fmt.Errorf("--subject %q: an empty {}", tmpl)
		}
		s.parts = append(s.parts, rest[:open])
		s.fields = append(s.fields, strings.Split(field, "."))
		rest = rest[open+end+1:]
	}
	for _, p := range s.parts {
		if strings.ContainsAny(p, " \t\r\n{}*>") {
			return nil, fmt.Errorf("--subject %q: a subject has no blanks and no wildcards", tmpl)
		}
	}
	if strings.HasPrefix(tmpl, ".") || strings.HasSuffix(tmpl, ".") || strings.Contains(tmpl, "..") {
		return nil, fmt.Errorf("--subject %q: empty tokens", tmpl)
	}
	return s, nil
}

// of is the subject of a record.
func (s *subject) of(record []byte) string {
	if len(s.fields) == 0 {
		return s.parts[0]
	}
	var b strings.Builder
	for i, f := range s.fields {
		b.WriteString(s.parts[i])
		b.WriteString(token(value(record, f)))
	}
	b.WriteString(s.parts[len(s.parts)-1])
	return b.String()
}

// wildcard is the subjects the template can give, for a stream: each
// field a * (the last >, when it ends the template).
func (s *subject) wildcard() string {
	var b strings.Builder
	for i := range s.fields {
		b.WriteString(s.parts[i])
		b.WriteByte('*')
	}
	b.WriteString(s.parts[len(s.parts)-1])
	return b.String()
}

// value is a field's value as text: a string's content, anything else
// as the JSON has it; "" when missing.
func value(record []byte, path []string) string {
	v, _, ok := jsonscan.Get(record, path...)
	if !ok {
		return ""
	}
	if str, err := jsonscan.StringValue(v); err == nil {
		return str
	}
	return string(v)
}

// token makes v one subject token: letters, digits, _ and - kept, any
// other byte an _; empty, a _.
func token(v string) string {
	if v == "" {
		return "_"
	}
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// msgID is a record's Nats-Msg-Id: its --msg-id fields' values, or,
// with none of them, a hash of the record.
func msgID(record []byte, fields [][]string) string {
	var b strings.Builder
	found := false
	for i, f := range fields {
		v := value(record, f)
		found = found || v != ""
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(v)
	}
	if !found {
		sum := sha256.Sum256(record)
		return hex.EncodeToString(sum[:16])
	}
	return b.String()
}
