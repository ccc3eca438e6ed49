package config

import "math"

// Recorder sets what is recorded as sealed clips and how long clips are
// kept. Times are in seconds.
type Recorder struct {
	PreRoll   float64 `toml:"pre_roll"`   // video before the event, from the stream's ring
	PostRoll  float64 `toml:"post_roll"`  // video after the last motion or ring
	MaxLength float64 `toml:"max_length"` // longest clip, pre-roll included
	OnMotion  bool    `toml:"on_motion"`  // record motion inside the zones
	OnRing    bool    `toml:"on_ring"`    // record a press of the button

	MaxBytes   int64   `toml:"max_bytes"`    // all clips together; the oldest go first; 0: no limit
	MaxAgeDays float64 `toml:"max_age_days"` // clips older than this are removed; 0: kept until space runs out

	SyncInterval   float64 `toml:"sync_interval"`   // how often a recording clip is flushed to the disk
	ThumbnailWidth int     `toml:"thumbnail_width"` // of the JPEG in each sealed event record, in pixels
}

func defaultRecorder() Recorder {
	return Recorder{
		PreRoll: 3, PostRoll: 5, MaxLength: 120, OnMotion: true, OnRing: true,
		MaxBytes: 4 << 30, MaxAgeDays: 30,
		SyncInterval: 1, ThumbnailWidth: 160,
	}
}

// MinRingBytes is the ring the pre-roll needs at the stream's bit rate: the
// pre-roll, the picture group it starts in, and one more.
func (r *Recorder) MinRingBytes(s *Stream) int {
	return int(math.Ceil((r.PreRoll + 2*s.KeyframeInterval) * float64(s.BitrateKbps) * 1000 / 8))
}

func (r *Recorder) validate(v *validator, s *Stream) {
	if !(r.PreRoll >= 0 && r.PreRoll <= 30) {
		v.errorf("recorder.pre_roll", "recorder.pre_roll is %g; use 0 to 30 seconds, e.g. 3", r.PreRoll)
	} else if s.BitrateKbps > 0 && s.KeyframeInterval > 0 && s.RingBytes >= s.MinRingBytes() && s.RingBytes < r.MinRingBytes(s) {
		// (A ring too small even for the stream is reported there.)
		v.errorf("recorder.pre_roll", "recorder.pre_roll is %g s, but stream.ring_bytes (%d) holds less than that at %d kbit/s; raise stream.ring_bytes to at least %d, or shorten the pre-roll",
			r.PreRoll, s.RingBytes, s.BitrateKbps, r.MinRingBytes(s))
	}
	if !(r.PostRoll >= 0 && r.PostRoll <= 300) {
		v.errorf("recorder.post_roll", "recorder.post_roll is %g; use 0 to 300 seconds, e.g. 5", r.PostRoll)
	}
	if !(r.MaxLength >= r.PreRoll+1 && r.MaxLength <= 3600) {
		v.errorf("recorder.max_length", "recorder.max_length is %g; use from pre_roll + 1 (%g) to 3600 seconds, e.g. 120", r.MaxLength, r.PreRoll+1)
	}
	if r.MaxBytes != 0 && r.MaxBytes < 16<<20 {
		v.errorf("recorder.max_bytes", "recorder.max_bytes is %d; use 0 (no limit but the disk) or at least %d (16 MiB), e.g. 4294967296 for 4 GiB", r.MaxBytes, 16<<20)
	}
	if !(r.MaxAgeDays >= 0) {
		v.errorf("recorder.max_age_days", "recorder.max_age_days is %g; use 0 (keep until space runs out) or a number of days, e.g. 30", r.MaxAgeDays)
	}
	if !(r.SyncInterval >= 0.1 && r.SyncInterval <= 10) {
		v.errorf("recorder.sync_interval", "recorder.sync_interval is %g; use 0.1 to 10 seconds, e.g. 1: a power cut loses about that much of a recording clip (plus up to one 64 KiB sealed chunk)", r.SyncInterval)
	}
	if r.ThumbnailWidth < 32 || r.ThumbnailWidth > 640 || r.ThumbnailWidth%2 != 0 {
		v.errorf("recorder.thumbnail_width", "recorder.thumbnail_width is %d; use an even number of pixels from 32 to 640, e.g. 160", r.ThumbnailWidth)
	}
}
