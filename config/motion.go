package config

// Motion configures motion detection: where to look, how big a change
// counts, and how motion frames become events. Times are in seconds.
type Motion struct {
	Enabled bool `toml:"enabled"`
	// Width is the picture width the detector works at; frames are scaled
	// down to it, which also averages away sensor noise.
	Width int `toml:"width"`
	// Blur is the Gaussian blur kernel, in pixels at Width (odd; 1: none).
	Blur int `toml:"blur"`
	// Threshold is the brightness change (of 255 levels) that marks a pixel changed.
	Threshold int `toml:"threshold"`
	// MinArea is the share of a zone that must change for a frame to count as motion.
	MinArea float64 `toml:"min_area"`
	// LearnTime is how fast the background follows slow changes (time constant).
	LearnTime float64 `toml:"learn_time"`
	// AbsorbTime is how fast something that stops moving becomes background.
	AbsorbTime float64 `toml:"absorb_time"`
	// LightChange is the share of the picture that, changing at once, means
	// the lighting changed: the background is learnt again instead.
	LightChange float64 `toml:"light_change"`
	// BrightnessJump is the relative change in mean brightness that means the same.
	BrightnessJump float64 `toml:"brightness_jump"`
	// StartFrames consecutive motion frames start an event.
	StartFrames int `toml:"start_frames"`
	// Quiet seconds without motion end an event.
	Quiet float64 `toml:"quiet"`
	// MaxEvent is the longest an event may last; motion still going on then
	// starts a new event after the cooldown.
	MaxEvent float64 `toml:"max_event"`
	// Cooldown is the time after an event during which no new one starts.
	Cooldown float64 `toml:"cooldown"`
	// Zone lists the areas where motion counts; none means the whole picture.
	Zone []Region `toml:"zone"`
}

func defaultMotion() Motion {
	return Motion{
		Enabled:        true,
		Width:          320,
		Blur:           5,
		Threshold:      25,
		MinArea:        0.005,
		LearnTime:      3,
		AbsorbTime:     60,
		LightChange:    0.5,
		BrightnessJump: 0.25,
		StartFrames:    3,
		Quiet:          5,
		MaxEvent:       120,
		Cooldown:       2,
	}
}

// maxZones bounds the zones, so that the detector's per-frame work stays small.
const maxZones = 16

func (m *Motion) validate(v *validator) {
	if m.Width < 32 || m.Width > 1920 {
		v.errorf("motion.width", "motion.width is %d; use a width in pixels from 32 to 1920, e.g. 320", m.Width)
	}
	if m.Blur < 1 || m.Blur > 31 || m.Blur%2 == 0 {
		v.errorf("motion.blur", "motion.blur is %d; use an odd kernel size from 1 (no blur) to 31, e.g. 5", m.Blur)
	}
	if m.Threshold < 1 || m.Threshold > 254 {
		v.errorf("motion.threshold", "motion.threshold is %d; use a brightness change from 1 to 254 levels, e.g. 25 (lower is more sensitive)", m.Threshold)
	}
	if !(m.MinArea > 0 && m.MinArea <= 1) {
		v.errorf("motion.min_area", "motion.min_area is %g; use a share of the zone above 0 and at most 1, e.g. 0.005 (half a percent)", m.MinArea)
	}
	if !(m.LearnTime >= 0.1 && m.LearnTime <= 3600) {
		v.errorf("motion.learn_time", "motion.learn_time is %g; use 0.1 to 3600 seconds, e.g. 3", m.LearnTime)
	}
	if !(m.AbsorbTime >= m.LearnTime && m.AbsorbTime <= 86400) {
		v.errorf("motion.absorb_time", "motion.absorb_time is %g; use at least learn_time (%g) and at most 86400 seconds, e.g. 60", m.AbsorbTime, m.LearnTime)
	}
	if !(m.LightChange > 0 && m.LightChange <= 1) {
		v.errorf("motion.light_change", "motion.light_change is %g; use a share of the picture above 0 and at most 1, e.g. 0.5", m.LightChange)
	}
	if !(m.BrightnessJump > 0 && m.BrightnessJump <= 10) {
		v.errorf("motion.brightness_jump", "motion.brightness_jump is %g; use a relative change above 0 and at most 10, e.g. 0.25 (25%%)", m.BrightnessJump)
	}
	if m.StartFrames < 1 || m.StartFrames > 300 {
		v.errorf("motion.start_frames", "motion.start_frames is %d; use 1 to 300 frames, e.g. 3", m.StartFrames)
	}
	if !(m.Quiet > 0 && m.Quiet <= 3600) {
		v.errorf("motion.quiet", "motion.quiet is %g; use more than 0 and at most 3600 seconds, e.g. 5", m.Quiet)
	}
	if !(m.MaxEvent >= m.Quiet && m.MaxEvent <= 86400) {
		v.errorf("motion.max_event", "motion.max_event is %g; use at least quiet (%g) and at most 86400 seconds, e.g. 120", m.MaxEvent, m.Quiet)
	}
	if !(m.Cooldown >= 0 && m.Cooldown <= 3600) {
		v.errorf("motion.cooldown", "motion.cooldown is %g; use 0 to 3600 seconds, e.g. 2", m.Cooldown)
	}
	if len(m.Zone) > maxZones {
		v.errorf("motion.zone", "motion has %d zones; use at most %d, merging neighbouring ones", len(m.Zone), maxZones)
	}
	checkRegions(v, "motion.zone", m.Zone, true)
}
