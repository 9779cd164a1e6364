package topology

// table maps keys to values by open addressing with linear probing: a
// lookup reads one place of memory, where a Go map reads its control
// word, then the slot, elsewhere. It only grows, and a value once set
// stays where it is (a larger table takes copies): what get returns can
// be kept. The zero key is never stored.
type table[V any] struct {
	slots []slot[V]
	n     int
}

type slot[V any] struct {
	k key
	v V
}

// get is the value of k, nil if none; it stays as it is.
func (t *table[V]) get(k key) *V {
	if len(t.slots) == 0 || k == (key{}) {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := k[0] & mask; ; i = (i + 1) & mask {
		switch s := &t.slots[i]; s.k {
		case k:
			return &s.v
		case key{}:
			return nil
		}
	}
}

// peek reads the place where k would be first, so that a lookup soon
// after finds it in the processor's cache.
func (t *table[V]) peek(k key) uint64 {
	if len(t.slots) == 0 {
		return 0
	}
	return t.slots[k[0]&uint64(len(t.slots)-1)].k[0]
}

// set gives k the value v, unless k has one already.
func (t *table[V]) set(k key, v V) {
	if k == (key{}) || t.get(k) != nil {
		return
	}
	if 4*(t.n+1) > 3*len(t.slots) {
		old := t.slots
		t.slots, t.n = make([]slot[V], max(1024, 2*len(old))), 0
		for _, s := range old {
			if s.k != (key{}) {
				t.set(s.k, s.v)
			}
		}
	}
	mask := uint64(len(t.slots) - 1)
	for i := k[0] & mask; ; i = (i + 1) & mask {
		if s := &t.slots[i]; s.k == (key{}) {
			s.k, s.v = k, v
			t.n++
			return
		}
	}
}
