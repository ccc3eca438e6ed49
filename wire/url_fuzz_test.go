package wire

import (
	"strings"
	"testing"
)

// FuzzParseDoorbellURL: whatever a member types as the doorbell's address,
// the CLI either refuses it or makes an https://HOST:PORT of it, which
// normalises to itself.
func FuzzParseDoorbellURL(f *testing.F) {
	for _, s := range []string{"https://doorbell.local:8443/pair#ABCD", "doorbell.local", "http://x", "https://[::1]:8443",
		"https://user@host:1/#", " https://h ", "https://h:8443:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		base, _, err := ParseDoorbellURL(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(base, "https://") {
			t.Fatalf("%q gave %q", raw, base)
		}
		again, code, err := ParseDoorbellURL(base)
		if err != nil || again != base || code != "" {
			t.Fatalf("%q gave %q, which gives %q %q %v", raw, base, again, code, err)
		}
	})
}
