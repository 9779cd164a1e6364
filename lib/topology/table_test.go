package topology

import (
	"strconv"
	"testing"
)

// TestTable: values set are found through growth, and what get returned
// stays as it was.
func TestTable(t *testing.T) {
	var tb table[string]
	if tb.get(keyOf("a")) != nil || tb.peek(keyOf("a")) != 0 {
		t.Fatal("an empty table answers")
	}
	tb.set(key{}, "zero")
	if tb.n != 0 || tb.get(key{}) != nil {
		t.Fatal("the zero key was stored")
	}
	first := func() *string { tb.set(keyOf("0"), "v0"); return tb.get(keyOf("0")) }()
	for i := 1; i < 10000; i++ {
		tb.set(keyOf(strconv.Itoa(i)), "v"+strconv.Itoa(i))
	}
	tb.set(keyOf("0"), "again")
	for i := range 10000 {
		if v := tb.get(keyOf(strconv.Itoa(i))); v == nil || *v != "v"+strconv.Itoa(i) {
			t.Fatalf("%d: %v", i, v)
		}
	}
	if *first != "v0" || tb.n != 10000 || 4*tb.n > 3*len(tb.slots) {
		t.Errorf("first %q, %d values in %d places", *first, tb.n, len(tb.slots))
	}
	if tb.get(keyOf("10000")) != nil || tb.get(key{}) != nil {
		t.Error("a value never set")
	}
}
