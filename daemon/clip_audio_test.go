package daemon

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/testkit/audiotest"
)

// Audio in clips, end to end through ALSA's file plugin and the CLI: off
// (the default), a ring's clip has video only and the microphone is never
// opened; on, the microphone runs while the clip records, the LED shows
// it, and the clip that `doorbell clips open` gives has an Opus track
// beside the video in which the microphone's 1 kHz tone is found. The
// ring-only profile wins over the setting: no sound, no microphone.
func TestClipsRecordSoundOnlyWhenAsked(t *testing.T) {
	bin := buildCLI(t)
	for _, c := range []struct {
		name    string
		record  bool
		profile string
		on      bool
	}{
		{"off by default", false, config.ProfileStandard, false},
		{"on", true, config.ProfileStandard, true},
		{"on, but ring-only", true, config.ProfileRingOnly, false},
	} {
		on := c.on
		t.Run(c.name, func(t *testing.T) {
			audiotest.FileALSA(t, 1000)
			data := t.TempDir()
			id, err := keys.Generate(keys.Hybrid)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := members.Add(data, "anna", id.Recipient, time.Now()); err != nil {
				t.Fatal(err)
			}
			idFile := filepath.Join(t.TempDir(), "anna.key")
			if err := os.WriteFile(idFile, id.File(time.Now()), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := config.Defaults()
			cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
			cfg.Motion.Enabled = false
			cfg.Audio.Capture, cfg.Audio.RecordInClips, cfg.Privacy.Profile = "mic", c.record, c.profile
			cfg.Recorder.PostRoll = 4
			d, addr, _ := started(t, cfg, inDir(data))
			sealed, unsubscribe := d.Bus().Subscribe("test", 8)
			defer unsubscribe()

			time.Sleep(time.Second) // a keyframe in the ring
			if st := d.audioStatus(t, addr); st.MicStarts != 0 {
				t.Fatalf("before the ring: %+v; want the microphone never opened", st)
			}
			d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now(), ID: 1})
			want := gpio.Recording
			if on {
				want = gpio.Listening // the visitor can see the microphone is live
			}
			waitUntil(t, 10*time.Second, "the LED showing "+want.String(), func() bool { return d.LED().State() == want })
			if on {
				waitUntil(t, 10*time.Second, "the microphone live", func() bool { return d.audioStatus(t, addr).Mic == "live" })
			}
			deadline := time.After(30 * time.Second)
			for sealedID := ""; sealedID == ""; {
				select {
				case e := <-sealed:
					if e.Kind == events.ClipSealed {
						sealedID = e.Clip
					}
				case <-deadline:
					t.Fatal("no clip sealed within 30 s of the ring")
				}
			}
			if on {
				waitUntil(t, 5*time.Second, "the microphone off after the clip", func() bool { return d.audioStatus(t, addr).Mic == "off" })
			} else if st := d.audioStatus(t, addr); st.MicStarts != 0 {
				t.Errorf("no audio in clips, yet the microphone started %d times", st.MicStarts)
			}

			store, err := clipstore.Open(data)
			if err != nil {
				t.Fatal(err)
			}
			list, err := store.List()
			if err != nil || len(list) != 1 {
				t.Fatalf("clips: %+v (%v), want one", list, err)
			}
			out := filepath.Join(t.TempDir(), "clip.mp4")
			if o, err := exec.Command(bin, "clips", "open", "-data", data, "-i", idFile, "-o", out, store.ClipPath(list[0].ID)).CombinedOutput(); err != nil {
				t.Fatalf("doorbell clips open: %v\n%s", err, o)
			}
			streams := probeStreams(t, out)
			video, ok := streams["h264"]
			if !ok || video[1] < 2.5 { // ring-only has no pre-roll
				t.Fatalf("streams %v: want over 2.5 s of h264", streams)
			}
			sound, hasSound := streams["opus"]
			if len(streams) != map[bool]int{false: 1, true: 2}[on] || hasSound != on {
				t.Fatalf("streams %v; want sound %v", streams, on)
			}
			if !on {
				return
			}
			// The microphone's start after the ring takes up to a second or
			// two on a loaded machine.
			if sound[1]-sound[0] < 1.5 || math.Abs(sound[1]-video[1]) > 0.3 {
				t.Errorf("the sound is from %.2f s to %.2f s of %.2f s of video: want over 1.5 s, to the end", sound[0], sound[1], video[1])
			}
			if p := audiotest.Goertzel(audiotest.DecodeSound(t, out), 1000); p < 0.5 {
				t.Errorf("1 kHz has %.2f of the clip's sound's power, want most of it", p)
			}
		})
	}
}

// probeStreams is ffprobe's view of a file: each codec's start and
// duration, in seconds.
func probeStreams(t testing.TB, path string) map[string][2]float64 {
	t.Helper()
	streams, _ := audiotest.Probe(t, path, false)
	got := map[string][2]float64{}
	for _, s := range streams {
		if s.End == 0 {
			t.Fatalf("ffprobe gives %s no duration: %+v", s.Codec, streams)
		}
		got[s.Codec] = [2]float64{s.Start, s.End - s.Start}
	}
	return got
}
