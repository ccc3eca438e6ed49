package config

import "fmt"

// Privacy profiles: one setting that makes the doorbell follow the data
// protection authorities' guidance for doorbell cameras.
const (
	ProfileStandard    = "standard"     // motion and rings record, with pre-roll
	ProfileRingOnly    = "ring-only"    // clips only of rings, none from before the ring, kept 72 h at most
	ProfileNoRecording = "no-recording" // the Saxon authority's conditions: camera on only after a ring, nothing recorded
)

// RingOnlyMaxAgeDays is the longest a ring-only clip is kept: 72 hours.
const RingOnlyMaxAgeDays = 3

// Privacy selects a privacy profile.
type Privacy struct {
	Profile string `toml:"profile"`
	// LiveWindow is how long, in seconds, live view and sound are
	// available after a ring in the no-recording profile; then the camera
	// switches itself off until the next ring.
	LiveWindow float64 `toml:"live_window"`
}

func defaultPrivacy() Privacy { return Privacy{Profile: ProfileStandard, LiveWindow: 120} }

// The guidance each profile follows, named in the errors of settings that contradict it.
const (
	saxonGuidance = "the Saxon data protection authority (datenschutz.sachsen.de) accepts a doorbell camera only if the ring switches it on, it switches itself off, streams nothing over the internet and records nothing"
	ringGuidance  = "motion-triggered and pre-recording activation usually fail the Saxon data protection authority's test (datenschutz.sachsen.de), and the EDPB (Guidelines 3/2019) asks for the least footage kept for the shortest time"
)

// profileRule is one setting a profile fixes: the value it forces when the
// file does not name the key, and whether a value the file gives contradicts it.
type profileRule struct {
	key         string
	apply       func(c *Config)
	contradicts func(c *Config) bool
	want        string // what the profile allows, for the error
}

func profileRules(profile string) (rules []profileRule, guidance string) {
	noPreRoll := profileRule{"recorder.pre_roll", func(c *Config) { c.Recorder.PreRoll = 0 },
		func(c *Config) bool { return c.Recorder.PreRoll != 0 }, "0: nothing from before the ring"}
	noMotionClips := profileRule{"recorder.on_motion", func(c *Config) { c.Recorder.OnMotion = false },
		func(c *Config) bool { return c.Recorder.OnMotion }, "false: no motion-triggered recording"}
	noVoices := profileRule{"audio.record_in_clips", func(c *Config) { c.Audio.RecordInClips = false },
		func(c *Config) bool { return c.Audio.RecordInClips },
		"false: no voices in clips (in Germany recording the spoken word without consent is a crime, §201 StGB; the UK ICO calls audio recording very privacy-intrusive)"}
	switch profile {
	case ProfileRingOnly:
		return []profileRule{noMotionClips, noPreRoll, noVoices,
			{"recorder.max_age_days", func(c *Config) { c.Recorder.MaxAgeDays = RingOnlyMaxAgeDays },
				func(c *Config) bool { return c.Recorder.MaxAgeDays <= 0 || c.Recorder.MaxAgeDays > RingOnlyMaxAgeDays },
				fmt.Sprintf("more than 0 and at most %d days (72 hours)", RingOnlyMaxAgeDays)},
		}, ringGuidance
	case ProfileNoRecording:
		return []profileRule{noMotionClips, noPreRoll, noVoices,
			{"recorder.on_ring", func(c *Config) { c.Recorder.OnRing = false },
				func(c *Config) bool { return c.Recorder.OnRing }, "false: nothing is recorded"},
			{"motion.enabled", func(c *Config) { c.Motion.Enabled = false },
				func(c *Config) bool { return c.Motion.Enabled }, "false: motion detection stays off until someone rings"},
			{"stream.ice_servers", func(c *Config) { c.Stream.ICEServers = []ICEServer{} },
				func(c *Config) bool { return len(c.Stream.ICEServers) > 0 }, "empty: live view on the home network only, nothing streamed over the internet"},
			{"replica.enabled", func(c *Config) { c.Replica.Enabled = false },
				func(c *Config) bool { return c.Replica.Enabled }, "false: nothing is recorded, so nothing is copied out of the house"},
		}, saxonGuidance
	}
	return nil, ""
}

// ApplyPrivacyProfile sets what the profile fixes on every key that
// explicit says the owner did not set (nil: none was set). A key the owner
// did set keeps its value, and validation refuses it if it contradicts the
// profile.
func (c *Config) ApplyPrivacyProfile(explicit func(key string) bool) {
	rules, _ := profileRules(c.Privacy.Profile)
	for _, r := range rules {
		if explicit == nil || !explicit(r.key) {
			r.apply(c)
		}
	}
}

func (p *Privacy) validate(v *validator, c *Config) {
	switch p.Profile {
	case ProfileStandard, ProfileRingOnly, ProfileNoRecording:
	default:
		v.errorf("privacy.profile", "privacy.profile is %q; use \"standard\", \"ring-only\" or \"no-recording\" (see the README's privacy profiles)", p.Profile)
		return
	}
	if !(p.LiveWindow >= 10 && p.LiveWindow <= 300) {
		v.errorf("privacy.live_window", "privacy.live_window is %g; use 10 to 300 seconds, e.g. 120: how long live view stays on after a ring in the no-recording profile", p.LiveWindow)
	}
	rules, guidance := profileRules(p.Profile)
	for _, r := range rules {
		if r.contradicts(c) {
			at := r.key
			if _, ok := v.lines[at+"[0]"]; ok { // an array of tables: its first entry
				at += "[0]"
			}
			v.errorf(at, "%s contradicts privacy.profile = %q, which needs it %s, because %s; remove %s from the file (the profile sets it), or choose another profile",
				r.key, p.Profile, r.want, guidance, r.key)
		}
	}
}
