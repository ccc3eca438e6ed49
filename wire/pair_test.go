package wire

import "testing"

func TestParseDoorbellURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"doorbell.local":                       {"https://doorbell.local:8443", ""},
		"https://10.0.0.5:9443":                {"https://10.0.0.5:9443", ""},
		"https://10.0.0.5:8443/pair#abcdef123": {"https://10.0.0.5:8443", "abcdef123"},
		"[::1]:8443":                           {"https://[::1]:8443", ""},
	} {
		base, code, err := ParseDoorbellURL(in)
		if err != nil || base != want[0] || code != want[1] {
			t.Errorf("%q: %q %q %v", in, base, code, err)
		}
	}
	for _, bad := range []string{"", "http://doorbell.local", "https://"} {
		if _, _, err := ParseDoorbellURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPairLinkRoundTrip(t *testing.T) {
	link := PairLink("192.168.1.20:8443", "abcdefgh")
	if link != "https://192.168.1.20:8443/pair#abcdefgh" {
		t.Fatalf("PairLink = %q", link)
	}
	base, code, err := ParseDoorbellURL(link)
	if err != nil || base != "https://192.168.1.20:8443" || code != "abcdefgh" {
		t.Fatalf("ParseDoorbellURL(%q) = %q %q %v", link, base, code, err)
	}
}
