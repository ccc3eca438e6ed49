package linkaddr

import (
	"net"
	"testing"
)

func TestForLinks(t *testing.T) {
	dir := t.TempDir()
	lan := LANAddress()
	check := func(explicit, want string) {
		t.Helper()
		got, err := ForLinks(dir, explicit)
		if err != nil || got != want {
			t.Errorf("ForLinks(%q) = %q %v, want %q", explicit, got, err, want)
		}
	}
	check("", net.JoinHostPort(lan, "8443"))
	check("doorbell.local", "doorbell.local:8443")
	check("doorbell.local:9443", "doorbell.local:9443")
	check(":9443", net.JoinHostPort(lan, "9443"))
	check("fd00::5", "[fd00::5]:8443")
	check("[fd00::5]:1", "[fd00::5]:1")
	if err := Save(dir, "127.0.0.1:45678"); err != nil {
		t.Fatal(err)
	}
	check("", "127.0.0.1:45678")
	Save(dir, "0.0.0.0:8443")
	check("", net.JoinHostPort(lan, "8443"))
	Save(dir, "[::]:8443")
	check("", net.JoinHostPort(lan, "8443"))
	check("door:1", "door:1")

	if ip := net.ParseIP(lan); lan != "localhost" && (ip == nil || ip.IsLoopback()) {
		t.Errorf("LANAddress = %q", lan)
	}
}
