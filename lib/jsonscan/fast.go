package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// fastSkip returns the end of the object or array at d[i], inside depth
// enclosing values, in one loop without a call per token: the common case
// of every record. ok is false when the value is not valid JSON, or holds
// what the loop leaves to the exact scanner (string escapes, deep nesting);
// the caller then scans it again with the exact scanner, which finds the
// error and says where.
func fastSkip(d []byte, i, depth int) (end int, ok bool) {
	var open [32]byte // the brackets of the values it is in
	n := 0
	var c byte
value:
	if i >= len(d) {
		return i, false
	}
	c = d[i]
	switch {
	case c == '"':
		if i = fastString(d, i); i < 0 {
			return 0, false
		}
	case c == '{' || c == '[':
		if n == len(open) || depth+n+1 > maxDepth {
			return 0, false
		}
		open[n] = c
		n++
		i = skipWS(d, i+1)
		if i < len(d) && d[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
			n--
			i++
			goto after
		}
		if c == '{' {
			goto key
		}
		goto value
	case c == '-' || c >= '0' && c <= '9':
		if i = fastNumber(d, i); i < 0 {
			return 0, false
		}
	case c == 't':
		if len(d)-i < 4 || string(d[i:i+4]) != "true" {
			return 0, false
		}
		i += 4
	case c == 'f':
		if len(d)-i < 5 || string(d[i:i+5]) != "false" {
			return 0, false
		}
		i += 5
	case c == 'n':
		if len(d)-i < 4 || string(d[i:i+4]) != "null" {
			return 0, false
		}
		i += 4
	default:
		return 0, false
	}
after: // a value ends at d[i]
	if n == 0 {
		return i, true
	}
	i = skipWS(d, i)
	if i >= len(d) {
		return 0, false
	}
	switch d[i] {
	case ',':
		i = skipWS(d, i+1)
		if open[n-1] == '[' {
			goto value
		}
	case open[n-1] + 2:
		n--
		i++
		goto after
	default:
		return 0, false
	}
key: // an object member starts at d[i]
	if i >= len(d) || d[i] != '"' {
		return 0, false
	}
	if i = fastString(d, i); i < 0 {
		return 0, false
	}
	i = skipWS(d, i)
	if i >= len(d) || d[i] != ':' {
		return 0, false
	}
	i = skipWS(d, i+1)
	goto value
}

// fastString returns the end of the string at d[i] that has no escapes,
// or -1.
func fastString(d []byte, i int) int {
	i++
	for i+8 <= len(d) {
		if m := attention(binary.LittleEndian.Uint64(d[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if d[i] == '"' {
				return i + 1
			}
			return -1
		}
		i += 8
	}
	for ; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			return i + 1
		case c == '\\' || c < 0x20:
			return -1
		}
	}
	return -1
}

// fastNumber returns the end of the number at d[i], or -1.
func fastNumber(d []byte, i int) int {
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return -1
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i]-'0' < 10; i++ {
		}
	default:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		j := i + 1
		for ; j < len(d) && d[j]-'0' < 10; j++ {
		}
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for ; j < len(d) && d[j]-'0' < 10; j++ {
		}
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// attention marks with its top bit each byte of x, eight bytes of a
// string, that plain does not: a quote, a backslash or a control
// character. Only the lowest mark is exact (a borrow can mark a later
// byte too), which is all fastString needs.
func attention(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((quote-ones)&^quote | (backslash-ones)&^backslash | (x-ones*0x20)&^x) & highs
}

// Int reads the number at d[i] in one pass when it is an integer of at
// most 18 digits, the counters and times of flows; ok is false for any
// other value, which the caller reads the long way (Skip), errors
// included. end is where the number ends.
func Int(d []byte, i int) (n int64, end int, ok bool) {
	j := i
	neg := j < len(d) && d[j] == '-'
	if neg {
		j++
	}
	start := j
	var u uint64
	for ; j < len(d) && j-start < 19 && d[j]-'0' < 10; j++ {
		u = u*10 + uint64(d[j]-'0')
	}
	switch digits := j - start; {
	case digits == 0 || digits > 18 || (digits > 1 && d[start] == '0'):
		return 0, i, false
	case j < len(d) && (d[j] == '.' || d[j] == 'e' || d[j] == 'E'):
		return 0, i, false
	}
	if neg {
		return -int64(u), j, true
	}
	return int64(u), j, true
}
