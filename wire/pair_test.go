package wire

import (
	"crypto/ed25519"
	"testing"
)

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
	link := PairLink("192.168.1.20:8443", "abcdefgh", "")
	if link != "https://192.168.1.20:8443/pair#abcdefgh" {
		t.Fatalf("PairLink = %q", link)
	}
	base, code, err := ParseDoorbellURL(link)
	if err != nil || base != "https://192.168.1.20:8443" || code != "abcdefgh" {
		t.Fatalf("ParseDoorbellURL(%q) = %q %q %v", link, base, code, err)
	}
}

func TestPairLinkCarriesTheDeviceID(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	id := DeviceID([]byte("spki"), pub)
	if len(id) != DeviceIDLen || id != DeviceID([]byte("spki"), pub) || id == DeviceID([]byte("other spki"), pub) {
		t.Fatalf("DeviceID = %q", id)
	}
	link := PairLink("doorbell.local:8443", "abcdefgh", id)
	if link != "https://doorbell.local:8443/pair#code=abcdefgh&id="+id {
		t.Errorf("PairLink = %q", link)
	}
	base, code, got, err := ParsePairLink(link)
	if err != nil || base != "https://doorbell.local:8443" || code != "abcdefgh" || got != id {
		t.Errorf("ParsePairLink(%q) = %q %q %q %v", link, base, code, got, err)
	}
	// The setup card's form, and an old link, carry no ID.
	for raw, want := range map[string]string{
		"https://doorbell.local:8443/pair#member=alice&code=abcd": "abcd",
		"https://doorbell.local:8443/pair#abcd":                   "abcd",
	} {
		if _, code, got, err := ParsePairLink(raw); err != nil || code != want || got != "" {
			t.Errorf("ParsePairLink(%q) = %q %q %v", raw, code, got, err)
		}
	}
	if _, _, _, err := ParsePairLink("https://d:1/pair#code=abcd&id=short"); err == nil {
		t.Error("a damaged device ID was accepted")
	}
}
