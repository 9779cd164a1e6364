package natsbus

import (
	"strings"
	"testing"
)

func TestSubject(t *testing.T) {
	for _, c := range []struct{ tmpl, record, want string }{
		{"flows.{Tag}", `{"Tag":"ingress"}`, "flows.ingress"},
		{"flows.{Tag}", `{"UUID":"a"}`, "flows._"},
		{"flows.{Tag}", `{"Tag":"a.b *>c d"}`, "flows.a_b___c_d"},
		{"f.{Network.A}.x", `{"Network":{"A":"10.0.0.1"}}`, "f.10_0_0_1.x"},
		{"f.{N}", `{"N":42}`, "f.42"},
		{"static", `{"Tag":"x"}`, "static"},
	} {
		s, err := parseSubject(c.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.of([]byte(c.record)); got != c.want {
			t.Errorf("%s of %s: %s, want %s", c.tmpl, c.record, got, c.want)
		}
	}
	for _, bad := range []string{"flows.{Tag", "flows.{}", "flows.*", "flows.>", "a b", ".x", "x.", "a..b"} {
		if _, err := parseSubject(bad); err == nil {
			t.Errorf("%q taken", bad)
		}
	}
	ids := [][]string{{"UUID"}, {"Last"}}
	if got := msgID([]byte(`{"UUID":"u","Last":12}`), ids); got != "u:12" {
		t.Errorf("msg id %s", got)
	}
	if a, b := msgID([]byte(`{"x":1}`), ids), msgID([]byte(`{"x":2}`), ids); a == b || len(a) != 32 {
		t.Errorf("msg ids of records without the fields: %s %s", a, b)
	}
}

// FuzzSubject: any template is taken or refused, and a taken one makes a
// valid subject of any record: no blanks, no wildcards, no empty token.
func FuzzSubject(f *testing.F) {
	f.Add("flows.{Tag}", `{"Tag":"ingress"}`)
	f.Add("f.{Network.A}.{Transport.B}", `{"Network":{"A":"1.2.3.4"},"Transport":{"B":53}}`)
	f.Add("{a}{b}", `{"a":"","b":"\u0000"}`)
	f.Fuzz(func(t *testing.T, tmpl, record string) {
		s, err := parseSubject(tmpl)
		if err != nil {
			return
		}
		subj := s.of([]byte(record))
		if subj == "" || strings.ContainsAny(subj, " \t\r\n*>") {
			t.Fatalf("%q of %q: subject %q", tmpl, record, subj)
		}
		for _, tok := range strings.Split(subj, ".") {
			if tok == "" {
				t.Fatalf("%q of %q: an empty token in %q", tmpl, record, subj)
			}
		}
		msgID([]byte(record), [][]string{{"UUID"}, {"Last"}})
	})
}

func BenchmarkSubjectAndID(b *testing.B) {
	s, _ := parseSubject("flows.{Tag}")
	line := []byte(`{"UUID":"7452651389e3b9bd","LayersPath":"Ethernet/IPv4/UDP","Network":{"A":"10.0.0.1","B":"10.0.0.2"},"Last":1795731701205,"Tag":"ingress"}`)
	ids := [][]string{{"UUID"}, {"Last"}}
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		s.of(line)
		msgID(line, ids)
	}
}
