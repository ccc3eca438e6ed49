package pairing

import (
	"net"
	"strings"
	"testing"
)

func TestLinkAddress(t *testing.T) {
	dir := t.TempDir()
	lan := LANAddress()
	check := func(explicit, want string) {
		t.Helper()
		got, err := LinkAddress(dir, explicit)
		if err != nil || got != want {
			t.Errorf("LinkAddress(%q) = %q %v, want %q", explicit, got, err, want)
		}
	}
	check("", net.JoinHostPort(lan, "8443"))
	check("doorbell.local", "doorbell.local:8443")
	check("doorbell.local:9443", "doorbell.local:9443")
	check(":9443", net.JoinHostPort(lan, "9443"))
	check("fd00::5", "[fd00::5]:8443")
	check("[fd00::5]:1", "[fd00::5]:1")
	if err := SaveListenAddress(dir, "127.0.0.1:45678"); err != nil {
		t.Fatal(err)
	}
	check("", "127.0.0.1:45678")
	SaveListenAddress(dir, "0.0.0.0:8443")
	check("", net.JoinHostPort(lan, "8443"))
	SaveListenAddress(dir, "[::]:8443")
	check("", net.JoinHostPort(lan, "8443"))
	check("door:1", "door:1")

	if l := Link("192.168.1.20:8443", "abc"); l != "https://192.168.1.20:8443/pair#abc" {
		t.Errorf("Link = %q", l)
	}
	if ip := net.ParseIP(lan); lan != "localhost" && (ip == nil || ip.IsLoopback()) {
		t.Errorf("LANAddress = %q", lan)
	}
}

func TestQRRoundTrip(t *testing.T) {
	bitmap := [][]bool{
		{true, false, true},
		{true, true, false},
		{false, true, false},
	}
	got := RenderQR(bitmap, false)
	want := "█▄▀\n ▀ \n"
	if got != want {
		t.Errorf("RenderQR = %q, want %q", got, want)
	}
	var b strings.Builder
	link := "https://192.168.1.20:8443/pair#" + strings.Repeat("a", 32)
	if err := WriteQR(&b, link, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	// Decode the half blocks back into modules: a QR code is square, with
	// a 7-module finder pattern in its corner inside a 4-module quiet zone.
	var modules [][]bool
	for _, l := range lines {
		var top, bottom []bool
		for _, r := range l {
			top = append(top, r == '█' || r == '▀')
			bottom = append(bottom, r == '█' || r == '▄')
		}
		modules = append(modules, top, bottom)
	}
	size := len([]rune(lines[0]))
	if len(modules) < size || len(modules) > size+1 {
		t.Fatalf("%d rows for %d columns", len(modules), size)
	}
	finder := []string{"#######", "#.....#", "#.###.#", "#.###.#", "#.###.#", "#.....#", "#######"}
	for y, row := range finder {
		for x, c := range row {
			if modules[4+y][4+x] != (c == '#') {
				t.Fatalf("finder pattern wrong at %d,%d:\n%s", x, y, b.String())
			}
		}
	}
	var colored strings.Builder
	WriteQR(&colored, link, true)
	if !strings.Contains(colored.String(), "\x1b[30;107m") || strings.Count(colored.String(), "\x1b[0m") != len(lines) {
		t.Error("colored QR lacks its escapes")
	}
}
