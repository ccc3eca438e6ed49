package termqr

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	bitmap := [][]bool{
		{true, false, true},
		{true, true, false},
		{false, true, false},
	}
	got := Render(bitmap, false)
	want := "█▄▀\n ▀ \n"
	if got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	var b strings.Builder
	link := "https://192.168.1.20:8443/pair#" + strings.Repeat("a", 32)
	if err := Write(&b, link, false); err != nil {
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
	Write(&colored, link, true)
	if !strings.Contains(colored.String(), "\x1b[30;107m") || strings.Count(colored.String(), "\x1b[0m") != len(lines) {
		t.Error("colored QR lacks its escapes")
	}
}
