package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var validityCases = []struct {
	in   string
	want bool
}{
	{`{}`, true},
	{` {"a":1} `, true},
	{`{"a":[1,2,{"b":null}],"c":"x\u00e9\n","d":-0.5e+10,"e":true,"f":false}`, true},
	{`[]`, true},
	{`"s"`, true},
	{`0`, true},
	{`-`, false},
	{`01`, false},
	{`1.`, false},
	{`1e`, false},
	{`{"a":1,}`, false},
	{`{"a" 1}`, false},
	{`{"a":1`, false},
	{`{"a":"b`, false},
	{`{"a":"\x"}`, false},
	{`{"a":"\u12g4"}`, false},
	{"{\"a\":\"\x01\"}", false},
	{`[1,]`, false},
	{`tru`, false},
	{`nul`, false},
	{`{} {}`, false},
	{``, false},
	{`{"a":1}x`, false},
	{`{"a":{"b":{"c":[]}},"d":[{},[[1],{"e":[]}]]}`, true},
	{`[{]`, false},
	{`{"a":[}`, false},
	{`[[[`, false},
	{`{"a":{"b":1,}}`, false},
	{`[1,[2,{"x":[3]}],4]x`, false},
}

func TestValid(t *testing.T) {
	for _, c := range validityCases {
		err := Valid([]byte(c.in))
		if (err == nil) != c.want {
			t.Errorf("Valid(%q) = %v, want valid %v", c.in, err, c.want)
		}
		if json.Valid([]byte(c.in)) != c.want {
			t.Errorf("case %q disagrees with encoding/json", c.in)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1`:                 "unexpected end of JSON input",
		`{"a":x}`:                "invalid character 'x' looking for beginning of value at offset 5",
		`{"a":1 2}`:              "invalid character '2' after object key:value pair at offset 7",
		`{"a":[1 2]}`:            "invalid character '2' after array element at offset 8",
		`{"a":[{"b":1},{"c" }]}`: "invalid character '}' after object key at offset 19",
		`{"a":{"b":1 "c"}}`:      "invalid character '\"' after object key:value pair at offset 12",
	} {
		_, err := Members([]byte(in), nil)
		if err == nil || err.Error() != want {
			t.Errorf("Members(%q) error = %v, want %q", in, err, want)
		}
	}
	if _, err := Members([]byte(`[1]`), nil); err != ErrNotObject {
		t.Errorf("array: got %v, want ErrNotObject", err)
	}
}

// TestDepth: nesting is bounded as encoding/json bounds it, without
// recursion limits of its own.
func TestDepth(t *testing.T) {
	for depth, valid := range map[int]bool{9999: true, 10000: true, 10001: false} {
		d := strings.Repeat(`{"a":[`, depth/2) + strings.Repeat("[", depth%2) + strings.Repeat("]", depth%2) + strings.Repeat("]}", depth/2)
		if got := Valid([]byte(d)) == nil; got != valid || json.Valid([]byte(d)) != valid {
			t.Errorf("depth %d: valid %v, want %v", depth, got, valid)
		}
	}
}

func TestMembersAndGet(t *testing.T) {
	d := []byte(`{"UUID":"x","Net\u0077ork":{"A":"10.0.0.1","B":"10.0.0.2"},"n":null}`)
	var keys []string
	closing, err := Members(d, func(m Member) error {
		k, _ := Unquote(m.Key)
		keys = append(keys, k+"="+string(d[m.Start:m.End]))
		return nil
	})
	if err != nil || closing != len(d)-1 {
		t.Fatalf("Members: %v, closing %d", err, closing)
	}
	want := []string{`UUID="x"`, `Network={"A":"10.0.0.1","B":"10.0.0.2"}`, `n=null`}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
	v, k, ok := Get(d, "Network", "B")
	if !ok || k != String || string(v) != `"10.0.0.2"` {
		t.Errorf("Get Network.B = %s %v %v", v, k, ok)
	}
	if _, _, ok := Get(d, "Network", "C"); ok {
		t.Error("Get Network.C found")
	}
	if _, _, ok := Get(d, "UUID", "x"); ok {
		t.Error("Get into a string found")
	}
}

func TestAppendSet(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, `{"Tag":"x"}`},
		{`{ }`, `{"Tag":"x" }`},
		{`{"a":1}`, `{"a":1,"Tag":"x"}`},
		{`{"a":1 , "b":2 }`, `{"a":1 , "b":2,"Tag":"x" }`},
		{`{"Tag":"old","a":1}`, `{"Tag":"x","a":1}`},
		{`{"Tag":{"deep":[1]},"a":1}`, `{"Tag":"x","a":1}`},
	}
	for _, c := range cases {
		d := []byte(c.in)
		var at *Member
		closing, err := Members(d, func(m Member) error {
			if m.Is("Tag") {
				at = &m
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := string(AppendSet(nil, d, closing, at, "Tag", []byte(`"x"`)))
		if got != c.want {
			t.Errorf("AppendSet(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, "back\\slash", "ctl\x01", "<&>", "é", "\u2028"} {
		got := AppendString(nil, s)
		want, _ := json.Marshal(s)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzValid checks the scanner against encoding/json on any input.
func FuzzValid(f *testing.F) {
	for _, c := range validityCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		got := Valid(d) == nil
		if want := json.Valid(d); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", d, got, want)
		}
	})
}

// FuzzMembers checks that the members found are the object's, value for
// value, and that setting a member gives valid JSON with that value.
func FuzzMembers(f *testing.F) {
	for _, c := range validityCases {
		f.Add([]byte(c.in))
	}
	f.Add([]byte(`{"Tag":"a","Tag":"b"}`))
	f.Fuzz(func(t *testing.T, d []byte) {
		if !utf8.Valid(d) {
			return // the stages refuse such lines before scanning; encoding/json would rewrite them
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(d, &want) != nil || want == nil {
			if _, err := Members(d, nil); err == nil && json.Valid(d) && bytes.TrimSpace(d)[0] == '{' {
				t.Fatalf("Members accepted %q that encoding/json refuses as an object", d)
			}
			return
		}
		got := map[string]json.RawMessage{}
		var at *Member
		closing, err := Members(d, func(m Member) error {
			k, err := Unquote(m.Key)
			if err != nil {
				return err
			}
			got[k] = json.RawMessage(d[m.Start:m.End])
			if k == "Tag" {
				at = &m
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Members(%q): %v", d, err)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("member %q = %s, want %s", k, got[k], v)
			}
		}
		out := AppendSet(nil, d, closing, at, "Tag", []byte(`"t"`))
		var back map[string]json.RawMessage // raw: 1e700 is JSON, if no float64
		if err := json.Unmarshal(out, &back); err != nil || string(back["Tag"]) != `"t"` {
			t.Fatalf("AppendSet(%q) = %q: %v", d, out, err)
		}
	})
}

// FuzzFastSkip checks the fast loop against the exact scanner: what it
// takes, the exact scanner takes too, with the same end.
func FuzzFastSkip(f *testing.F) {
	for _, c := range validityCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		if len(d) == 0 || (d[0] != '{' && d[0] != '[') {
			return
		}
		end, ok := fastSkip(d, 0, 0)
		if !ok {
			return
		}
		var want int
		var err error
		if d[0] == '{' {
			want, err = skipObject(d, 0, 1)
		} else {
			want, err = skipArray(d, 0, 1)
		}
		if err != nil || want != end {
			t.Fatalf("fastSkip(%q) = %d, exact scanner %d, %v", d, end, want, err)
		}
	})
}

// TestWalkTextSeeing: see is handed, in order, the members whose keys
// have the length of one of its keys, and those with escaped keys,
// before the decoder; a member it skips does not reach the decoder;
// white space may surround the object and nothing else may follow it.
func TestWalkTextSeeing(t *testing.T) {
	text := " \t{\"a\":1,\"skip\":{\"x\":[2]},\"bb\":\"c\",\"b\":2,\"\\u0061\":3,\"long\":4}\n"
	var seen, read []string
	see := NewSee(func(m Member) (bool, error) {
		seen = append(seen, string(m.Key))
		return string(m.Key) == "skip", nil
	}, "a", "skip")
	fn := func(m Member) (int, error) {
		end, _, err := Skip([]byte(text), m.Start)
		read = append(read, string(m.Key))
		return end, err
	}
	if err := WalkText([]byte(text), fn, see); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != `a,skip,b,\u0061,long` || strings.Join(read, ",") != `a,bb,b,\u0061,long` {
		t.Errorf("seen %q, read %q", seen, read)
	}
	for _, bad := range []string{`{"a":1} x`, `{"skip":{"x":}}`, `[1]`, ``} {
		if err := WalkText([]byte(bad), func(m Member) (int, error) { end, _, err := Skip([]byte(bad), m.Start); return end, err }, see); err == nil {
			t.Errorf("WalkText(%s): no error", bad)
		}
	}
}

// TestInt: Int reads the integers that flows hold and leaves every other
// value to Skip.
func TestInt(t *testing.T) {
	for _, c := range []struct {
		in  string
		n   int64
		end int
		ok  bool
	}{
		{"0,", 0, 1, true},
		{"-0}", 0, 2, true},
		{"1795731701186,", 1795731701186, 13, true},
		{"-42 ", -42, 3, true},
		{"999999999999999999", 999999999999999999, 18, true},
		{"1000000000000000000", 0, 0, false}, // 19 digits
		{"01", 0, 0, false},
		{"1.5", 0, 0, false},
		{"1e3", 0, 0, false},
		{"-", 0, 0, false},
		{`"1"`, 0, 0, false},
		{"", 0, 0, false},
	} {
		n, end, ok := Int([]byte(c.in), 0)
		if n != c.n || end != c.end || ok != c.ok {
			t.Errorf("Int(%q) = %d, %d, %v; want %d, %d, %v", c.in, n, end, ok, c.n, c.end, c.ok)
		}
	}
}

// FuzzInt: where Int reads a number, Skip ends it at the same place and
// strconv reads the same integer.
func FuzzInt(f *testing.F) {
	for _, s := range []string{"0", "-12,", "1795731701186}", "1.5", "01", "-", "123456789012345678901"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		n, end, ok := Int(d, 0)
		if !ok {
			return
		}
		want, k, err := Skip(d, 0)
		if err != nil || k != Number || want != end {
			t.Fatalf("Int(%q) ends at %d; Skip: %d, %v, %v", d, end, want, k, err)
		}
		if v, err := strconv.ParseInt(string(d[:end]), 10, 64); err != nil || v != n {
			t.Fatalf("Int(%q) = %d; strconv: %d, %v", d, n, v, err)
		}
	})
}

func TestAfter(t *testing.T) {
	d := []byte(`{"A":1,"B":2}`)
	for _, c := range []struct {
		i    int
		key  string
		want int
	}{
		{1, `"A":`, 5},
		{0, `{"A":`, 5},
		{7, `"B":`, 11},
		{1, `"B":`, -1},
		{7, `"B":2}x`, -1}, // longer than what is left
		{13, `"B":`, -1},
	} {
		if got := After(d, c.i, c.key); got != c.want {
			t.Errorf("After(%q, %d, %q) = %d, want %d", d, c.i, c.key, got, c.want)
		}
	}
}
