package flow

import (
	"fmt"
	"net/netip"
)

// Local is the set of a capture point's own addresses (--local-ip): it
// tells a record's direction relative to the interface.
type Local []netip.Prefix

// ParseLocal reads addresses and CIDRs.
func ParseLocal(values []string) (Local, error) {
	var l Local
	for _, s := range values {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("--local-ip %q: not an address or CIDR", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		l = append(l, p)
	}
	return l, nil
}

// Has reports whether the address written as text is one of the set;
// an empty set parses nothing.
func (l Local) Has(addr string) bool {
	if len(l) == 0 {
		return false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range l {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
