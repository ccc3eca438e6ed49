package config

import (
	"strings"
	"testing"
)

func TestMemoryErrors(t *testing.T) {
	cases := []struct {
		src  string
		line int
		want string
	}{
		{"[memory]\nlimit_bytes = 1000\n", 2, "at least 16777216 (16 MiB)"},
		{"[memory]\ngc_percent = 0\n", 2, "use 1 to 1000"},
		{"[memory]\ngc_percent = 5000\n", 2, "use 1 to 1000"},
		{"[memory]\nlimit_bytes = 0\ngc_percent = -1\n", 3, "grow without bound"},
		{"[memory]\nlimit = 3\n", 2, `unknown key "memory.limit"`},
	}
	for _, c := range cases {
		es := parseErr(t, c.src)
		if es[0].Line != c.line || !strings.Contains(es[0].Error(), c.want) {
			t.Errorf("%q: got %v (line %d), want %q on line %d", c.src, es[0], es[0].Line, c.want, c.line)
		}
	}
	cfg, err := Parse("t.toml", []byte("[memory]\nlimit_bytes = 67108864\ngc_percent = -1\n"))
	if err != nil || cfg.Memory.LimitBytes != 64<<20 || cfg.Memory.GCPercent != -1 {
		t.Errorf("parse: %+v %v", cfg.Memory, err)
	}
	if d := Defaults().Memory; d.LimitBytes != 64<<20 || d.GCPercent != 50 {
		t.Errorf("defaults %+v", d)
	}
}
