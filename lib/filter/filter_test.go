package filter

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const records = `{"UUID":"a","Tag":"internal","Transport":{"Protocol":"TCP","A":1,"B":80},"Metric":{"ABBytes":5000}}
{"UUID":"b","Tag":"other","Transport":{"Protocol":"TCP","A":1,"B":80},"Metric":{"ABBytes":5000}}
{"UUID":"c","Tag":"egress","Transport":{"Protocol":"UDP","A":1,"B":53},"Metric":{"ABBytes":10}}
{"UUID":"d","Tag":"ingress","Metric":{"ABBytes":99999}}
{"UUID":"e","Tag":"internal","Transport":{"Protocol":"TCP"},"Metric":{"ABBytes":"many"}}
{"UUID":"f"}
`

func run(t *testing.T, in string, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := Run(append([]string{"sky-filter"}, args...), strings.NewReader(in), &out, &errw)
	return out.String(), errw.String(), code
}

func uuids(out string) string {
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ UUID string }
		if json.Unmarshal([]byte(l), &r) == nil {
			ids = append(ids, r.UUID)
		}
	}
	return strings.Join(ids, "")
}

func TestFilter(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "abcdef"},
		{[]string{"--exclude-tag", "other"}, "acdef"},
		{[]string{"--include-tag", "internal", "--include-tag", "egress"}, "ace"},
		{[]string{"--include-tag", "internal,egress"}, "ace"},
		{[]string{`Tag != "other" && Transport.Protocol == "TCP" && Metric.ABBytes > 1000`}, "a"},
		{[]string{"--expr", `Metric.ABBytes > 1000`}, "abd"},
		{[]string{`Transport?.B in [53, 80]`}, "abc"},
		{[]string{`Transport == nil`}, "df"},
		{[]string{`len(Transport) == 3`}, "abc"},
		{[]string{`UUID matches "^[a-c]$"`}, "abc"},
		{[]string{"--exclude-tag", "other", `Metric.ABBytes >= 5000`}, "ad"},
	}
	for _, c := range cases {
		out, errs, code := run(t, records, c.args...)
		if code != 0 || uuids(out) != c.want {
			t.Errorf("%q: exit %d, kept %q, want %q\n%s", c.args, code, uuids(out), c.want, errs)
		}
	}
}

func TestPassThroughBytes(t *testing.T) {
	in := "{ \"Tag\" : \"x\",  \"z\":1.50 }\n{\"Tag\":\"other\"}\n"
	out, _, _ := run(t, in, "--exclude-tag", "other")
	if out != "{ \"Tag\" : \"x\",  \"z\":1.50 }\n" {
		t.Errorf("record changed: %q", out)
	}
}

func TestStrict(t *testing.T) {
	out, errs, code := run(t, records, "--strict", `Metric.ABBytes > 1000`)
	if code != 0 || uuids(out) != "abd" {
		t.Errorf("strict: exit %d, kept %q", code, uuids(out))
	}
	for _, msg := range []string{"line 5: expression: ", "line 6: expression: ", "stats: in 6 out 3 dropped 1 bad 2"} {
		if !strings.Contains(errs, msg) {
			t.Errorf("stderr lacks %q:\n%s", msg, errs)
		}
	}
	_, errs, _ = run(t, records, "--strict", "--exclude-tag", "other")
	if !strings.Contains(errs, "line 6: Tag: want a string, got nothing") {
		t.Errorf("strict tag: %s", errs)
	}
}

func TestBadExpression(t *testing.T) {
	_, errs, code := run(t, "", `Tag != && x`)
	if code != 2 || !strings.Contains(errs, `sky-filter: expression: column 8: unexpected token Operator("&&"): Tag != >>>&& x`) {
		t.Errorf("exit %d:\n%s", code, errs)
	}
	if _, _, code := run(t, "", "--expr", "true", "false"); code != 2 {
		t.Errorf("expression twice: exit %d", code)
	}
	if _, _, code := run(t, "", `1 + 2`); code != 2 {
		t.Errorf("non-boolean expression: exit %d", code)
	}
}

func TestFields(t *testing.T) {
	e, err := Compile(`Metric.ABBytes > 1 && Network.A == "x" && Network.B != nil && len(Link) > 0 && Tag == "t"`)
	if err != nil {
		t.Fatal(err)
	}
	f := e.fields
	if !f.keys["Link"].full || !f.keys["Tag"].full || f.keys["Metric"].full || f.keys["Network"].full {
		t.Errorf("full decode marks wrong: %+v", f.keys)
	}
	if len(f.keys["Network"].keys) != 2 || !f.keys["Metric"].keys["ABBytes"].full {
		t.Errorf("sub-keys wrong: %+v %+v", f.keys["Network"].keys, f.keys["Metric"].keys)
	}
}

// FuzzFilter checks that any record and expression either pass
// byte for byte, are dropped, or are reported: never a crash.
func FuzzFilter(f *testing.F) {
	for _, l := range strings.Split(strings.TrimSpace(records), "\n") {
		f.Add(l, `Tag != "other" && Transport.Protocol == "TCP" && Metric.ABBytes > 1000`)
	}
	f.Add(`{"a":[1,2,{"b":null}]}`, `a[2].b == nil`)
	f.Add(`{"a":"x"}`, `a.b.c`)
	f.Fuzz(func(t *testing.T, line, src string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		if _, err := Compile(src); err != nil {
			return
		}
		for _, strict := range []string{"--strict=false", "--strict"} {
			var out, errw bytes.Buffer
			code := Run([]string{"sky-filter", "-q", strict, "--expr", src}, strings.NewReader(line+"\n"), &out, &errw)
			if code != 0 {
				t.Fatalf("exit %d for %q / %q: %s", code, line, src, errw.String())
			}
			if out.Len() > 0 && out.String() != line+"\n" {
				t.Fatalf("record changed: %q -> %q", line, out.String())
			}
			if out.Len() > 0 && !json.Valid([]byte(line)) {
				t.Fatalf("passed invalid JSON %q", line)
			}
		}
	})
}
