package stream

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzOffer: the SDP checks never crash, and what filterCandidates keeps
// is never more than MaxRemoteCandidates, nor a loopback, multicast or
// unspecified address.
func FuzzOffer(f *testing.F) {
	f.Add("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n" +
		"a=candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host\r\na=candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host\r\n")
	f.Add("a=candidate:1 1 udp 1 ::ffff:127.0.0.1 1 typ host\n")
	f.Add("hello, doorbell")
	f.Fuzz(func(t *testing.T, offer string) {
		_ = checkOffer(offer)
		out, _ := filterCandidates(offer, false)
		if n := strings.Count(out, "\na=candidate:"); n > MaxRemoteCandidates {
			t.Fatalf("kept %d candidates", n)
		}
		for _, l := range strings.Split(out, "\n") {
			v, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), "a=candidate:")
			if !ok {
				continue
			}
			if fl := strings.Fields(v); len(fl) > 4 {
				if a, err := netip.ParseAddr(fl[4]); err == nil {
					a = a.Unmap()
					if a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() {
						t.Fatalf("kept %q", l)
					}
				}
			}
		}
	})
}
