package config

import (
	"strings"
	"testing"
)

// Audio in clips is off by default, may be turned on only with a
// microphone, and is on only where the file says so.
func TestAudioRecordInClips(t *testing.T) {
	if Defaults().Audio.RecordInClips {
		t.Fatal("audio.record_in_clips is on by default")
	}
	cfg, err := Parse("on.toml", []byte("[audio]\ncapture = \"plughw:1,0\"\nrecord_in_clips = true\n"))
	if err != nil || !cfg.Audio.RecordInClips {
		t.Fatalf("a microphone recorded in clips: %v, %+v", err, cfg.Audio)
	}
	es := parseErr(t, "[audio]\nrecord_in_clips = true\n")
	if len(es) != 1 || es[0].Line != 2 || !strings.Contains(es[0].Error(), "no microphone is named") || !strings.Contains(es[0].Error(), "audio.capture") {
		t.Errorf("record_in_clips without a microphone: %v", es)
	}
	// A profile that forbids it turns it off in a config built in code.
	cfg = Defaults()
	cfg.Audio.Capture, cfg.Audio.RecordInClips, cfg.Privacy.Profile = "mic", true, ProfileRingOnly
	cfg.ApplyPrivacyProfile(nil)
	if cfg.Audio.RecordInClips {
		t.Error("ring-only left audio in clips on")
	}
}
