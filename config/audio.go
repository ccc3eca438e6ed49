package config

import "strings"

// Audio names the doorbell's sound devices. Audio is off unless a device
// is named: with none, nothing captures sound and live view has no audio.
type Audio struct {
	FFmpeg   string  `toml:"ffmpeg"`   // the ffmpeg executable that decodes the replies and the ring sound
	Capture  string  `toml:"capture"`  // the microphone's ALSA device, e.g. "plughw:1,0"; "": none
	Playback string  `toml:"playback"` // the speaker's ALSA device; "": none
	Volume   float64 `toml:"volume"`   // of the speaker: 0.1 to 2, 1 as spoken
	// ListenWindow is how long after a ring, or after a member taps
	// "listen", the microphone may be live while a member watches.
	ListenWindow float64 `toml:"listen_window"`
	// RingSound plays a chime on the speaker at each ring: instead of, or
	// as well as, the chime relay (gpio.chime).
	RingSound  bool    `toml:"ring_sound"`
	RingVolume float64 `toml:"ring_volume"` // of the ring sound: 0.1 to 2
	// RecordInClips records the microphone into every clip, as a second
	// track sealed with the video; the microphone then runs (and the LED
	// shows it) while a clip records. Off by default: recording voices is
	// what the law guards hardest (§201 StGB; the ICO; EDPB 3/2019).
	RecordInClips bool `toml:"record_in_clips"`
}

func defaultAudio() Audio {
	return Audio{FFmpeg: "ffmpeg", Volume: 1, ListenWindow: 180, RingVolume: 1}
}

func (a *Audio) validate(v *validator) {
	if a.FFmpeg == "" {
		v.errorf("audio.ffmpeg", "audio.ffmpeg is empty; set it to \"ffmpeg\" or the path of the ffmpeg executable")
	}
	for key, dev := range map[string]string{"audio.capture": a.Capture, "audio.playback": a.Playback} {
		if strings.ContainsAny(dev, " \t\n") {
			v.errorf(key, "%s is %q, which has white space in it; give an ALSA device name as arecord -L or aplay -L lists it, e.g. \"plughw:1,0\"", key, dev)
		}
	}
	if !(a.Volume >= 0.1 && a.Volume <= 2) {
		v.errorf("audio.volume", "audio.volume is %g; use 0.1 to 2, e.g. 1 to play the voice as spoken", a.Volume)
	}
	if !(a.RingVolume >= 0.1 && a.RingVolume <= 2) {
		v.errorf("audio.ring_volume", "audio.ring_volume is %g; use 0.1 to 2, e.g. 1", a.RingVolume)
	}
	if a.RingSound && a.Playback == "" {
		v.errorf("audio.ring_sound", "audio.ring_sound is on, but no speaker is named; set audio.playback to the speaker's ALSA device (aplay -L lists them), or turn ring_sound off")
	}
	if a.RecordInClips && a.Capture == "" {
		v.errorf("audio.record_in_clips", "audio.record_in_clips is on, but no microphone is named; set audio.capture to the microphone's ALSA device (arecord -L lists them), or turn record_in_clips off")
	}
	if !(a.ListenWindow >= 10 && a.ListenWindow <= 600) {
		v.errorf("audio.listen_window", "audio.listen_window is %g; use 10 to 600 seconds, e.g. 180: the microphone may be live only this long after a ring or a tap on \"listen\"", a.ListenWindow)
	}
}
