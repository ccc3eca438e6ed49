package daemon

import (
	"net/http"
	"testing"
	"time"

	"doorbell/config"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/testkit/audiotest"
)

// The daemon's audio, end to end through ALSA's file plugin: a member
// watching with audio hears nothing until a ring (nothing is captured
// at all), then the doorbell's microphone, with the LED double-blinking;
// a viewer without audio still gets video; POST /api/listen needs a token.
func TestDaemonAudioFollowsTheRing(t *testing.T) {
	audiotest.FileALSA(t, 1000)
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
	cfg.Motion.Enabled = false
	cfg.Audio.Capture, cfg.Audio.Playback = "mic", "spk"
	d, addr, _ := started(t, cfg)
	token := pairedToken(t, d)

	videoOnly, code, body := dialWHEP(t, addr, token, nil, false)
	if videoOnly == nil {
		t.Fatalf("a viewer without audio: %d %s", code, body)
	}
	listener, code, body := dialWHEP(t, addr, token, nil, true)
	if listener == nil {
		t.Fatalf("a listener: %d %s", code, body)
	}
	waitUntil(t, 15*time.Second, "video for both", func() bool { return videoOnly.videoPkts.Load() > 0 && listener.videoPkts.Load() > 0 })
	time.Sleep(500 * time.Millisecond) // room for a microphone that should not be running
	if st := d.audioStatus(t, addr); st.MicStarts != 0 || st.Listeners != 1 || listener.audioPkts.Load() != 0 {
		t.Fatalf("before any ring: %+v, %d packets heard; want nothing captured", st, listener.audioPkts.Load())
	}

	d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now(), ID: 1})
	waitUntil(t, 10*time.Second, "the doorbell's sound after the ring", func() bool { return listener.audioPkts.Load() >= 25 })
	if s := d.LED().State(); s != gpio.Listening {
		t.Errorf("the LED shows %v while the microphone is live, want listening", s)
	}
	if videoOnly.audioPkts.Load() != 0 {
		t.Error("a viewer who offered no audio got audio")
	}

	req, _ := http.NewRequest("POST", "https://"+addr+"/api/listen", nil)
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /api/listen without a token: %s, want 401", resp.Status)
	}
	_ = listener.pc.Close()
	waitUntil(t, 5*time.Second, "the microphone off when the listener left", func() bool { return d.audioStatus(t, addr).Mic == "off" })
	if s := d.LED().State(); s == gpio.Listening {
		t.Error("the LED still shows listening with nobody listening")
	}
}

func (d *Daemon) audioStatus(t testing.TB, addr string) (st struct {
	Mic       string
	Listeners int
	MicStarts uint64 `json:"mic_starts"`
}) {
	t.Helper()
	var h struct {
		Audio *struct {
			Mic       string
			Listeners int
			MicStarts uint64 `json:"mic_starts"`
		}
	}
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp, &h); err != nil || h.Audio == nil {
		t.Fatalf("/healthz audio: %v", err)
	}
	st.Mic, st.Listeners, st.MicStarts = h.Audio.Mic, h.Audio.Listeners, h.Audio.MicStarts
	return st
}
