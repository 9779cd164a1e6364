package classify

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestTag(t *testing.T) {
	c, err := New(append(DefaultNets, "fd00::/8"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ a, b, want string }{
		{"10.0.0.1", "192.168.1.1", Internal},
		{"10.0.0.1", "8.8.8.8", Egress},
		{"8.8.8.8", "172.16.5.4", Ingress},
		{"8.8.8.8", "1.1.1.1", Other},
		{"172.32.0.1", "10.1.1.1", Ingress}, // 172.32/16 is outside 172.16/12
		{"fd00::1", "fd12::2", Internal},
		{"fd00::1", "2001:db8::1", Egress},
		{"::ffff:10.1.2.3", "10.0.0.1", Internal},
		{"not-an-ip", "10.0.0.1", Other},
		{"", "10.0.0.1", Other},
	}
	for _, tc := range cases {
		if got := c.Tag(tc.a, tc.b); got != tc.want {
			t.Errorf("Tag(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
	if _, err := New([]string{"10.0.0.0/33"}); err == nil {
		t.Error("New accepted a bad CIDR")
	}
}

func run(t *testing.T, in string, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := Run(append([]string{"sky-classify"}, args...), strings.NewReader(in), &out, &errw)
	return out.String(), errw.String(), code
}

func TestRecords(t *testing.T) {
	in := `{"Network":{"A":"10.0.0.1","B":"8.8.8.8"},"x":[1,{"y":2}]}
{"LayersPath":"Ethernet/ARP"}
{"Network":{"A":"10.0.0.1","B":"10.0.0.2"},"Tag":"stale"}
{"Network":{"A":42,"B":"10.0.0.2"}}
{"Network":"x"}
{"Network":{"A":"10.0.0.1"}}
`
	want := `{"Network":{"A":"10.0.0.1","B":"8.8.8.8"},"x":[1,{"y":2}],"Tag":"egress"}
{"LayersPath":"Ethernet/ARP","Tag":"other"}
{"Network":{"A":"10.0.0.1","B":"10.0.0.2"},"Tag":"internal"}
{"Network":{"A":"10.0.0.1"},"Tag":"other"}
`
	out, errs, code := run(t, in)
	if code != 0 || out != want {
		t.Errorf("exit %d, out:\n%s\nwant:\n%s", code, out, want)
	}
	for _, msg := range []string{
		"sky-classify: line 4: Network.A: want a string, got number\n",
		"sky-classify: line 5: Network: want an object, got string\n",
		"sky-classify: stats: in 6 out 4 dropped 0 bad 2 elapsed ",
	} {
		if !strings.Contains(errs, msg) {
			t.Errorf("stderr lacks %q:\n%s", msg, errs)
		}
	}
	out, _, _ = run(t, in, "--tag-field", "Dir", "--cluster-net", "8.8.8.0/24")
	if !strings.HasPrefix(out, `{"Network":{"A":"10.0.0.1","B":"8.8.8.8"},"x":[1,{"y":2}],"Dir":"ingress"}`) {
		t.Errorf("--tag-field/--cluster-net: %s", out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--cluster-net", "nope"}, {"--bogus"}, {"extra"}, {"--on-error", "maybe"}} {
		if _, errs, code := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	if _, errs, code := run(t, "{}\n{\n", "--on-error", "fail"); code != 1 || !strings.Contains(errs, "sky-classify: line 2: decode: unexpected end of JSON input") {
		t.Errorf("--on-error fail: exit %d, %s", code, errs)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("SKY_CLUSTER_NETS", "8.8.8.0/24,1.1.1.0/24")
	out, _, _ := run(t, `{"Network":{"A":"1.1.1.1","B":"8.8.8.8"}}`)
	if !strings.Contains(out, `"Tag":"internal"`) {
		t.Errorf("SKY_CLUSTER_NETS ignored: %s", out)
	}
}

// FuzzClassify checks that any line either comes out valid with only the
// tag changed or is reported, and that the tag agrees with Tag.
func FuzzClassify(f *testing.F) {
	f.Add(`{"Network":{"A":"10.0.0.1","B":"8.8.8.8"}}`)
	f.Add(`{"Network":{"A":"::1","B":"fd00::2"},"Tag":1}`)
	f.Add(`{"Network":{"A":"10.0.0.1\u0030","B":"8.8.8.8"}}`)
	cl, _ := New(DefaultNets)
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		var out, errw bytes.Buffer
		Run([]string{"sky-classify", "-q"}, strings.NewReader(line+"\n"), &out, &errw)
		if out.Len() == 0 {
			if strings.TrimSpace(line) != "" && errw.Len() == 0 {
				t.Fatalf("%q neither passed nor reported", line)
			}
			return
		}
		var in, got map[string]any
		if err := json.Unmarshal([]byte(line), &in); err != nil {
			t.Fatalf("passed invalid %q", line)
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("output %q invalid: %v", out.Bytes(), err)
		}
		tag := got["Tag"]
		delete(in, "Tag")
		delete(got, "Tag")
		inJSON, _ := json.Marshal(in)
		gotJSON, _ := json.Marshal(got)
		if !bytes.Equal(inJSON, gotJSON) {
			t.Fatalf("changed more than the tag: %s -> %s", inJSON, gotJSON)
		}
		want := Other
		if n, ok := in["Network"].(map[string]any); ok {
			a, _ := n["A"].(string)
			b, _ := n["B"].(string)
			want = cl.Tag(a, b)
		}
		if tag != want {
			t.Fatalf("tag %v, want %v for %s", tag, want, line)
		}
	})
}

// FuzzParseIPv4 checks the allocation-free IPv4 reader against netip: it
// takes exactly the IPv4 addresses netip takes, as the same address.
func FuzzParseIPv4(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "255.255.255.255", "0.0.0.0", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "::1", "1.2.3.4%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Is4()
		if ok != wantOK || ok && got != want {
			t.Fatalf("parseIPv4(%q) = %v, %v; netip: %v, %v", s, got, ok, want, err)
		}
	})
}
