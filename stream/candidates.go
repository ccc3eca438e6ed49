package stream

import (
	"net/netip"
	"strings"
)

// MaxRemoteCandidates is how many ICE candidates of an offer are used. A
// browser offers one or two per network interface; the doorbell sends
// connectivity checks to every one, so a longer list would let a paired
// device aim the doorbell's UDP at addresses and ports of its choosing.
const MaxRemoteCandidates = 16

// filterCandidates returns offer without the ICE candidates the doorbell
// must not send checks to: loopback ones (unless the doorbell offers
// loopback itself, as on a test machine), unspecified, multicast and
// broadcast ones, and any past the first MaxRemoteCandidates. Host names
// (a browser's mDNS .local names) are kept; the checks from them teach
// the doorbell their address.
func filterCandidates(offer string, allowLoopback bool) (out string, dropped int) {
	lines := strings.SplitAfter(offer, "\n")
	var b strings.Builder
	b.Grow(len(offer))
	kept := 0
	for _, l := range lines {
		t := strings.TrimRight(l, "\r\n")
		if v, ok := strings.CutPrefix(t, "a=candidate:"); ok {
			if kept >= MaxRemoteCandidates || !usableCandidate(v, allowLoopback) {
				dropped++
				continue
			}
			kept++
		}
		b.WriteString(l)
	}
	return b.String(), dropped
}

// usableCandidate checks a candidate attribute's value (RFC 8839:
// foundation component transport priority address port typ ...).
func usableCandidate(v string, allowLoopback bool) bool {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return false
	}
	addr, err := netip.ParseAddr(f[4])
	if err != nil {
		return strings.HasSuffix(f[4], ".local") // an mDNS name, which is never resolved
	}
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback():
		return allowLoopback
	case addr.IsUnspecified(), addr.IsMulticast(), addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return false
	case addr.Is4() && addr.As4()[3] == 255 && !allowLoopback:
		// Most likely a LAN's broadcast address (a /24); no host has it.
		return false
	}
	return true
}
