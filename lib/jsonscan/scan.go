// Package jsonscan validates and indexes JSON text without decoding it, so a
// stage can read a few fields of a record and pass every other byte through.
package jsonscan

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
)

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Invalid Kind = iota
	Object
	Array
	String
	Number
	Bool
	Null
)

var kindNames = [...]string{"invalid", "object", "array", "string", "number", "bool", "null"}

func (k Kind) String() string { return kindNames[k] }

// maxDepth bounds nesting as encoding/json does, so a hostile line cannot
// exhaust the stack.
const maxDepth = 10000

// SyntaxError is malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Msg == msgEOF {
		return msgEOF
	}
	return fmt.Sprintf("%s at offset %d", e.Msg, e.Offset)
}

const msgEOF = "unexpected end of JSON input"

func syntaxErr(d []byte, i int, what string) error {
	if i >= len(d) {
		return &SyntaxError{Offset: i, Msg: msgEOF}
	}
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf("invalid character %s %s", quoteChar(d[i]), what)}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = fmt.Sprintf(`"\x%02x"`, c)
	}
	return "'" + s[1:len(s)-1] + "'"
}

func skipWS(d []byte, i int) int {
	if i < len(d) && d[i] > ' ' {
		return i
	}
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Valid reports the first syntax error of d, a whole JSON text, or nil.
func Valid(d []byte) error {
	_, _, _, err := Value(d, 0)
	return err
}

// Value scans the single JSON value that is all of d[i:] apart from white
// space and returns where it starts and ends and its kind.
func Value(d []byte, i int) (start, end int, k Kind, err error) {
	start = skipWS(d, i)
	end, k, err = skip(d, start, 0)
	if err != nil {
		return 0, 0, Invalid, err
	}
	if j := skipWS(d, end); j != len(d) {
		return 0, 0, Invalid, syntaxErr(d, j, "after top-level value")
	}
	return start, end, k, nil
}

// skip returns the end of the value that starts exactly at d[i].
func skip(d []byte, i, depth int) (int, Kind, error) {
	if i >= len(d) {
		return i, Invalid, syntaxErr(d, i, "")
	}
	switch d[i] {
	case '"':
		if end := fastString(d, i); end >= 0 {
			return end, String, nil
		}
		end, _, err := slowString(d, i)
		return end, String, err
	case '{':
		if end, ok := fastSkip(d, i, depth); ok {
			return end, Object, nil
		}
		end, err := skipObject(d, i, depth+1)
		return end, Object, err
	case '[':
		if end, ok := fastSkip(d, i, depth); ok {
			return end, Array, nil
		}
		end, err := skipArray(d, i, depth+1)
		return end, Array, err
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if end := fastNumber(d, i); end >= 0 {
			return end, Number, nil
		}
		end, err := slowNumber(d, i)
		return end, Number, err
	case 't':
		return literal(d, i, "true", Bool)
	case 'f':
		return literal(d, i, "false", Bool)
	case 'n':
		return literal(d, i, "null", Null)
	default:
		return i, Invalid, syntaxErr(d, i, "looking for beginning of value")
	}
}

func literal(d []byte, i int, word string, k Kind) (int, Kind, error) {
	for j := 0; j < len(word); j++ {
		if i+j >= len(d) || d[i+j] != word[j] {
			return i + j, Invalid, syntaxErr(d, i+j, "in literal "+word)
		}
	}
	return i + len(word), k, nil
}

// skipString returns the end of the string at d[i] and whether it has escapes.
func skipString(d []byte, i int) (end int, escaped bool, err error) {
	if end := fastString(d, i); end >= 0 {
		return end, false, nil
	}
	return slowString(d, i)
}

// slowString is skipString for a string with escapes, or an invalid one.
func slowString(d []byte, i int) (end int, escaped bool, err error) {
	i++ // opening quote
	for i < len(d) {
		for i < len(d) && plain[d[i]] {
			i++
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return i + 1, escaped, syntaxErr(d, i+1, "")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) {
						return j, escaped, syntaxErr(d, j, "")
					}
					if !isHex(d[j]) {
						return j, escaped, syntaxErr(d, j, "in \\u hexadecimal character escape")
					}
				}
				i += 6
			default:
				return i + 1, escaped, syntaxErr(d, i+1, "in string escape code")
			}
		case c < 0x20:
			return i, escaped, syntaxErr(d, i, "in string literal")
		default:
			i++
		}
	}
	return i, escaped, syntaxErr(d, i, "")
}

// plain marks the bytes that need no attention inside a string: all but
// the quote, the backslash and control characters.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// verbatim are the bytes encoding/json writes as they are in a string.
var verbatim = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func skipDigits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// slowNumber returns the end of the number at d[i], or what is wrong
// with it.
func slowNumber(d []byte, i int) (int, error) {
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = skipDigits(d, i+1)
	default:
		return i, syntaxErr(d, i, "in numeric literal")
	}
	if i < len(d) && d[i] == '.' {
		j := skipDigits(d, i+1)
		if j == i+1 {
			return j, syntaxErr(d, j, "after decimal point in numeric literal")
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := skipDigits(d, i)
		if j == i {
			return j, syntaxErr(d, j, "in exponent of numeric literal")
		}
		i = j
	}
	return i, nil
}

func skipArray(d []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, &SyntaxError{Offset: i, Msg: "exceeded max depth"}
	}
	return elements(d, i, depth, nil)
}

// elements scans the array at d[i] and calls fn, if not nil, for each element.
func elements(d []byte, i, depth int, fn func(start, end int, k Kind) error) (int, error) {
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == ']' {
		return i + 1, nil
	}
	for {
		end, k, err := skip(d, i, depth)
		if err != nil {
			return end, err
		}
		if fn != nil {
			if err := fn(i, end, k); err != nil {
				return end, err
			}
		}
		i = skipWS(d, end)
		if i >= len(d) {
			return i, syntaxErr(d, i, "")
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, syntaxErr(d, i, "after array element")
		}
	}
}

func skipObject(d []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, &SyntaxError{Offset: i, Msg: "exceeded max depth"}
	}
	return members(d, i, depth, nil)
}

// Member is one key of an object and where its value lies.
type Member struct {
	Key        []byte // raw key between the quotes, escapes not decoded
	Escaped    bool   // whether Key has escapes
	Start, End int    // the value's offsets in the scanned text
	Kind       Kind
}

// Is reports whether the member's key spells name.
func (m *Member) Is(name string) bool {
	if !m.Escaped {
		return string(m.Key) == name
	}
	s, err := Unquote(m.Key)
	return err == nil && s == name
}

// Name returns the member's key, decoded.
func (m *Member) Name() (string, error) { return Unquote(m.Key) }

// Unescaped returns the member's key with its escapes decoded (Key
// itself when it has none), for a switch on string(key), which does not
// allocate.
func (m *Member) Unescaped() []byte {
	if !m.Escaped {
		return m.Key
	}
	k, _ := m.Name()
	return []byte(k)
}

// members scans the object at d[i] and calls fn, if not nil, for each member.
func members(d []byte, i, depth int, fn func(Member) error) (int, error) {
	return membersArray(d, i, depth, "", nil, fn)
}

// membersArray is members that also calls elem for each element of the
// member named array, if it is an array, in the same pass.
func membersArray(d []byte, i, depth int, array string, elem func(start, end int, k Kind) error, fn func(Member) error) (int, error) {
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return i, syntaxErr(d, i, "looking for beginning of object key string")
		}
		kend, escaped := fastString(d, i), false
		var err error
		if kend < 0 {
			if kend, escaped, err = slowString(d, i); err != nil {
				return kend, err
			}
		}
		key := d[i+1 : kend-1]
		i = skipWS(d, kend)
		if i >= len(d) || d[i] != ':' {
			return i, syntaxErr(d, i, "after object key")
		}
		vstart := skipWS(d, i+1)
		var vend int
		var k Kind
		if elem != nil && vstart < len(d) && d[vstart] == '[' && !escaped && string(key) == array {
			vend, k = vstart, Array
			if depth+1 > maxDepth {
				return vend, &SyntaxError{Offset: vstart, Msg: "exceeded max depth"}
			}
			vend, err = elements(d, vstart, depth+1, elem)
		} else {
			vend, k, err = skip(d, vstart, depth)
		}
		if err != nil {
			return vend, err
		}
		if fn != nil {
			if err := fn(Member{Key: key, Escaped: escaped, Start: vstart, End: vend, Kind: k}); err != nil {
				return vend, err
			}
		}
		i = skipWS(d, vend)
		if i >= len(d) {
			return i, syntaxErr(d, i, "")
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, syntaxErr(d, i, "after object key:value pair")
		}
	}
}

// ErrNotObject is returned by Members for a text that is not a JSON object.
var ErrNotObject = errors.New("not a JSON object")

// Members validates d, a whole JSON text that must be an object, and calls
// fn for each of its members in order. It returns the offset of the closing
// brace. An error from fn stops the scan and is returned as it is.
func Members(d []byte, fn func(Member) error) (closing int, err error) {
	return MembersArray(d, "", nil, fn)
}

// MembersArray is Members that also calls elem with the offsets and kind
// of each element of the member named array (spelt without escapes), when
// it is an array, in the same single pass.
func MembersArray(d []byte, array string, elem func(start, end int, k Kind) error, fn func(Member) error) (closing int, err error) {
	i := skipWS(d, 0)
	if i >= len(d) {
		return 0, syntaxErr(d, i, "")
	}
	if d[i] != '{' {
		if _, _, _, err := Value(d, 0); err != nil {
			return 0, err
		}
		return 0, ErrNotObject
	}
	end, err := membersArray(d, i, 1, array, elem, fn)
	if err != nil {
		return 0, err
	}
	if j := skipWS(d, end); j != len(d) {
		return 0, syntaxErr(d, j, "after top-level value")
	}
	return end - 1, nil
}

// See hands a caller the members of an object whose keys have the
// lengths of its keys, before a decoder reads them (Key and Start set):
// fn says whether the decoder should skip each, so that a caller reads
// what it needs of a record in the decoder's pass. The other members go
// to the decoder alone after one check (handing fn every member took 5%
// of sky-batch's Parquet time).
type See struct {
	fn      func(m Member) (skip bool, err error)
	lengths uint64 // bit n: a key of n bytes (63: of 63 or more)
}

// NewSee makes a See that hands fn the members whose keys might be one
// of keys (fn tells them apart).
func NewSee(fn func(m Member) (skip bool, err error), keys ...string) *See {
	s := &See{fn: fn}
	for _, k := range keys {
		s.lengths |= 1 << min(len(k), 63)
	}
	return s
}

// wants says whether m goes to fn: a key of one of the lengths, or
// escaped (its length is not its name's).
func (s *See) wants(m Member) bool {
	return m.Escaped || s.lengths&(1<<min(len(m.Key), 63)) != 0
}

// Hand hands m to the See's fn if it wants it, as WalkText does, for a
// decoder that walks an object its own way; skip is false for a member
// it does not want.
func (s *See) Hand(m Member) (skip bool, err error) {
	if !s.wants(m) {
		return false, nil
	}
	return s.fn(m)
}

// WalkText walks d, a whole JSON text that must be an object, as Walk
// does, see (if not nil) handed the members it wants first (one it skips
// is only scanned), and checks that only white space follows: a
// decoder's one pass.
func WalkText(d []byte, fn func(Member) (int, error), see *See) error {
	if see != nil {
		// The closure stays on the stack: Walk keeps no fn.
		inner := fn
		fn = func(m Member) (int, error) {
			skip, err := see.Hand(m)
			switch {
			case err != nil:
				return m.Start, err
			case skip:
				end, _, err := Skip(d, m.Start)
				return end, err
			}
			return inner(m)
		}
	}
	end, err := Walk(d, skipWS(d, 0), fn)
	if err != nil {
		return err
	}
	return End(d, end)
}

// Walk scans the object that starts at d[i] and calls fn for each member
// with its key and the offset where its value starts (End is not set).
// fn scans the value itself and returns where it ends, with Skip or Walk,
// so that a decoder reads the text once. It returns the end of the object.
// Its loop is membersArray's; the validator keeps its own, without the
// indirect call per member, being the hot path of every stage (measured:
// sharing this one made validation about a sixth slower).
func Walk(d []byte, i int, fn func(m Member) (end int, err error)) (int, error) {
	if i >= len(d) || d[i] != '{' {
		return i, syntaxErr(d, i, "looking for beginning of object")
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return i, syntaxErr(d, i, "looking for beginning of object key string")
		}
		kend, escaped, err := skipString(d, i)
		if err != nil {
			return kend, err
		}
		m := Member{Key: d[i+1 : kend-1], Escaped: escaped}
		i = skipWS(d, kend)
		if i >= len(d) || d[i] != ':' {
			return i, syntaxErr(d, i, "after object key")
		}
		m.Start = skipWS(d, i+1)
		if m.Start >= len(d) {
			return m.Start, syntaxErr(d, m.Start, "")
		}
		vend, err := fn(m)
		if err != nil {
			return vend, err
		}
		i = skipWS(d, vend)
		if i >= len(d) {
			return i, syntaxErr(d, i, "")
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, syntaxErr(d, i, "after object key:value pair")
		}
	}
}

// After returns where a value starts when d[i:] starts with key (a
// member's quoted name and colon, and what comes before them), else -1:
// a decoder that expects a text's members in one order compares each
// key with it.
func After(d []byte, i int, key string) int {
	if len(d)-i < len(key) || string(d[i:i+len(key)]) != key {
		return -1
	}
	return i + len(key)
}

// Skip scans the value that starts at d[i] and returns its end and kind.
func Skip(d []byte, i int) (end int, k Kind, err error) { return skip(d, i, 1) }

// End checks that only white space follows offset i in d.
func End(d []byte, i int) error {
	if j := skipWS(d, i); j != len(d) {
		return syntaxErr(d, j, "after top-level value")
	}
	return nil
}

// Elements validates d, a whole JSON text that must be an array, and calls
// fn with the offsets and kind of each element in order.
func Elements(d []byte, fn func(start, end int, k Kind) error) error {
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '[' {
		if _, _, _, err := Value(d, 0); err != nil {
			return err
		}
		return errors.New("not a JSON array")
	}
	end, err := elements(d, i, 1, fn)
	if err != nil {
		return err
	}
	if j := skipWS(d, end); j != len(d) {
		return syntaxErr(d, j, "after top-level value")
	}
	return nil
}

// Unquote decodes the text between the quotes of a valid JSON string.
func Unquote(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw), nil
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	err := jsoniter.ConfigFastest.Unmarshal(q, &s)
	return s, err
}

// Get finds the value at a path of object keys inside the valid JSON value v.
// found is false when a key is missing or a step is not an object.
func Get(v []byte, path ...string) (val []byte, k Kind, found bool) {
	start, end, kind := 0, len(v), kindOf(v)
	for _, name := range path {
		if kind != Object {
			return nil, Invalid, false
		}
		var hit Member
		found := false
		_, _ = members(v[:end], start, 1, func(m Member) error {
			if m.Is(name) {
				hit, found = m, true
				return errStop
			}
			return nil
		})
		if !found {
			return nil, Invalid, false
		}
		start, end, kind = hit.Start, hit.End, hit.Kind
	}
	return v[start:end], kind, true
}

var errStop = errors.New("stop")

func kindOf(v []byte) Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch c := v[0]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	default:
		return Number
	}
}

// StringValue decodes a JSON string value (with its quotes).
func StringValue(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", fmt.Errorf("want a string, got %s", kindOf(v))
	}
	return Unquote(v[1 : len(v)-1])
}

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !verbatim[s[i]] {
			b, _ := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendSet appends to dst the object d with its member key set to the JSON
// value v: in place when at is that member of d, else as a new last member
// before the closing brace at offset closing (as Members returned it).
func AppendSet(dst, d []byte, closing int, at *Member, key string, v []byte) []byte {
	if at != nil {
		dst = append(dst, d[:at.Start]...)
		dst = append(dst, v...)
		return append(dst, d[at.End:]...)
	}
	j := closing - 1
	for j >= 0 && (d[j] == ' ' || d[j] == '\t' || d[j] == '\n' || d[j] == '\r') {
		j--
	}
	dst = append(dst, d[:j+1]...)
	if d[j] != '{' {
		dst = append(dst, ',')
	}
	dst = AppendString(dst, key)
	dst = append(dst, ':')
	dst = append(dst, v...)
	return append(dst, d[j+1:]...)
}
