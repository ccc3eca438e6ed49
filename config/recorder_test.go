package config

import (
	"strings"
	"testing"
)

func TestRecorderDefaults(t *testing.T) {
	c := Defaults()
	r := c.Recorder
	if r.PreRoll != 3 || !r.OnMotion || !r.OnRing || r.MaxBytes <= 0 || r.MaxAgeDays <= 0 {
		t.Errorf("defaults %+v", r)
	}
	if c.Stream.RingBytes < r.MinRingBytes(&c.Stream) {
		t.Errorf("the default ring (%d bytes) cannot hold the default pre-roll (%d)", c.Stream.RingBytes, r.MinRingBytes(&c.Stream))
	}
}

func TestRecorderErrors(t *testing.T) {
	cases := []struct {
		src  string
		line int
		want string
	}{
		{"[recorder]\npre_roll = -1\n", 2, "recorder.pre_roll is -1"},
		{"[stream]\nring_bytes = 600000\n[recorder]\npre_roll = 10\n", 4, "raise stream.ring_bytes to at least 2750000"},
		{"[recorder]\npost_roll = 1000\n", 2, "0 to 300 seconds"},
		{"[recorder]\npre_roll = 5\nmax_length = 4\n", 3, "from pre_roll + 1 (6)"},
		{"[recorder]\nmax_bytes = 1000\n", 2, "at least 16777216"},
		{"[recorder]\nmax_age_days = -2\n", 2, "recorder.max_age_days is -2"},
		{"[recorder]\nsync_interval = 0\n", 2, "0.1 to 10 seconds"},
		{"[recorder]\nthumbnail_width = 161\n", 2, "even number of pixels"},
		{"[recorder]\npreroll = 3\n", 2, `unknown key "recorder.preroll"`},
	}
	for _, c := range cases {
		es := parseErr(t, c.src)
		if es[0].Line != c.line || !strings.Contains(es[0].Error(), c.want) {
			t.Errorf("%q: got %v (line %d), want %q on line %d", c.src, es[0], es[0].Line, c.want, c.line)
		}
	}
	cfg, err := Parse("t.toml", []byte("[recorder]\npre_roll = 1.5\non_ring = false\nmax_bytes = 0\nmax_age_days = 0\n"))
	if err != nil || cfg.Recorder.PreRoll != 1.5 || cfg.Recorder.OnRing || cfg.Recorder.MaxBytes != 0 {
		t.Errorf("parse: %+v %v", cfg.Recorder, err)
	}
}
