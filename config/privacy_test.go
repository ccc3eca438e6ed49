package config

import (
	"strings"
	"testing"
)

// A profile sets what it needs where the file is silent, and refuses each
// key the file sets against it, on that key's line, naming the guidance.
func TestPrivacyProfiles(t *testing.T) {
	cfg, err := Parse("ring.toml", []byte("[privacy]\nprofile = \"ring-only\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Recorder; r.OnMotion || r.PreRoll != 0 || r.MaxAgeDays != RingOnlyMaxAgeDays || !r.OnRing {
		t.Errorf("ring-only recorder settings: %+v; want on_ring only, no pre-roll, 3 days", r)
	}
	cfg, err = Parse("none.toml", []byte("[privacy]\nprofile = \"no-recording\"\nlive_window = 60.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Recorder; r.OnMotion || r.OnRing || r.PreRoll != 0 || cfg.Motion.Enabled || cfg.Privacy.LiveWindow != 60 {
		t.Errorf("no-recording settings: recorder %+v, motion %v, window %g", r, cfg.Motion.Enabled, cfg.Privacy.LiveWindow)
	}
	// Settings that agree with the profile are fine.
	if _, err := Parse("ok.toml", []byte("[recorder]\non_motion = false\nmax_age_days = 1.0\n[privacy]\nprofile = \"ring-only\"\n")); err != nil {
		t.Errorf("agreeing settings refused: %v", err)
	}

	cases := []struct {
		name, src string
		lines     []int
		want      []string
	}{
		{"ring-only against the example's recorder", "[recorder]\npre_roll = 3.0\non_motion = true\nmax_age_days = 30.0\n[privacy]\nprofile = \"ring-only\"\n",
			[]int{2, 3, 4}, []string{"recorder.pre_roll contradicts", "recorder.on_motion contradicts", "recorder.max_age_days contradicts", "Saxon", "EDPB"}},
		{"ring-only keeping forever", "[recorder]\nmax_age_days = 0.0\n[privacy]\nprofile = \"ring-only\"\n",
			[]int{2}, []string{"72 hours"}},
		{"no-recording with motion and a ring clip", "[motion]\nenabled = true\n[recorder]\non_ring = true\n[privacy]\nprofile = \"no-recording\"\n",
			[]int{2, 4}, []string{"motion.enabled contradicts", "recorder.on_ring contradicts", "datenschutz.sachsen.de", "records nothing"}},
		{"no-recording over the internet", "[[stream.ice_servers]]\nurls = [\"stun:stun.example.org:3478\"]\n[privacy]\nprofile = \"no-recording\"\n",
			[]int{1}, []string{"stream.ice_servers contradicts", "over the internet"}},
		{"ring-only recording voices", "[audio]\ncapture = \"mic\"\nrecord_in_clips = true\n[privacy]\nprofile = \"ring-only\"\n",
			[]int{3}, []string{"audio.record_in_clips contradicts", "§201 StGB", "Saxon"}},
		{"no-recording recording voices", "[audio]\ncapture = \"mic\"\nrecord_in_clips = true\n[privacy]\nprofile = \"no-recording\"\n",
			[]int{3}, []string{"audio.record_in_clips contradicts", "§201 StGB", "datenschutz.sachsen.de"}},
		{"unknown profile", "[privacy]\nprofile = \"paranoid\"\n", []int{2}, []string{`"standard", "ring-only" or "no-recording"`}},
		{"window too long", "[privacy]\nprofile = \"no-recording\"\nlive_window = 3600.0\n", []int{3}, []string{"10 to 300 seconds"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := parseErr(t, c.src)
			if len(es) != len(c.lines) {
				t.Fatalf("%d errors, want %d:\n%v", len(es), len(c.lines), es)
			}
			for i, e := range es {
				if e.Line != c.lines[i] {
					t.Errorf("error %d on line %d, want %d: %v", i, e.Line, c.lines[i], e)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(es.Error(), w) {
					t.Errorf("errors do not say %q:\n%v", w, es)
				}
			}
		})
	}
}

// no-recording records nothing, so it has nothing to copy to a replica:
// the owner is told to turn the replica off, not left thinking it works.
func TestNoRecordingRefusesAReplica(t *testing.T) {
	es := parseErr(t, "[replica]\nenabled = true\n[privacy]\nprofile = \"no-recording\"\n")
	if !strings.Contains(es.Error(), "replica.enabled contradicts") || !strings.Contains(es.Error(), "copied out of the house") {
		t.Errorf("no-recording with a replica:\n%v", es)
	}
	cfg, err := Parse("none.toml", []byte("[privacy]\nprofile = \"no-recording\"\n"))
	if err != nil || cfg.Replica.Enabled {
		t.Errorf("no-recording: %v, replica %v", err, cfg.Replica.Enabled)
	}
}

// Flags change a loaded config afterwards: Recheck still refuses a
// contradiction, with no line to name.
func TestPrivacyRecheck(t *testing.T) {
	cfg := Defaults()
	cfg.Privacy.Profile = ProfileNoRecording
	if err := Recheck(&cfg); err == nil || !strings.Contains(err.Error(), "motion.enabled contradicts") {
		t.Errorf("Recheck of no-recording with motion on: %v", err)
	}
	cfg.ApplyPrivacyProfile(nil)
	if err := Recheck(&cfg); err != nil {
		t.Errorf("Recheck after applying the profile: %v", err)
	}
}
