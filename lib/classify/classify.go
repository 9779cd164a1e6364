// Package classify tags flows as ingress, egress, internal or other by
// whether their addresses lie inside the cluster's networks.
package classify

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
)

// The tags a flow can get.
const (
	Internal = "internal" // both ends inside
	Egress   = "egress"   // A inside, B outside
	Ingress  = "ingress"  // B inside, A outside
	Other    = "other"    // neither inside, or an address is missing or unparsable
)

// DefaultNets are the RFC 1918 ranges, the original exporter's defaults.
var DefaultNets = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// Classifier tags address pairs by a set of cluster networks, and the
// addresses discovered in the topology, which may change at any time.
type Classifier struct {
	nets       []netip.Prefix
	discovered atomic.Pointer[[]netip.Prefix]
}

// Discover sets the discovered addresses, and reports whether they changed.
func (c *Classifier) Discover(nets []netip.Prefix) bool {
	if old := c.discovered.Load(); old != nil && slices.Equal(*old, nets) {
		return false
	}
	c.discovered.Store(&nets)
	return true
}

// New parses the cluster networks, IPv4 or IPv6 CIDRs.
func New(cidrs []string) (*Classifier, error) {
	c := &Classifier{}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("cluster net %q: not a CIDR", s)
		}
		c.nets = append(c.nets, p.Masked())
	}
	return c, nil
}

// Inside reports whether a lies in one of the cluster networks. IPv4-mapped
// IPv6 addresses count as their IPv4 address.
func (c *Classifier) Inside(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.nets {
		if p.Contains(a) {
			return true
		}
	}
	if d := c.discovered.Load(); d != nil {
		for _, p := range *d {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// Tag classifies a flow from endpoint A to endpoint B, given as text.
func (c *Classifier) Tag(a, b string) string {
	aa, errA := netip.ParseAddr(a)
	bb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return Other
	}
	return c.tag(aa, bb)
}

// tag classifies a flow from endpoint a to endpoint b.
func (c *Classifier) tag(a, b netip.Addr) string {
	inA, inB := c.Inside(a), c.Inside(b)
	switch {
	case inA && inB:
		return Internal
	case inA:
		return Egress
	case inB:
		return Ingress
	}
	return Other
}

// parseAddr reads an address as netip.ParseAddr does, an IPv4 one without
// allocating.
func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	a, err := netip.ParseAddr(string(b))
	return a, err == nil
}

// parseIPv4 reads dotted decimal as netip.ParseAddr does: four parts of
// digits, none with a leading zero, none above 255.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	part, digits, val := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && val == 0 {
				return netip.Addr{}, false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && part < 3:
			ip[part] = byte(val)
			part, digits, val = part+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}
