package daemon

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/testkit"
)

// A ring records a clip, the status LED shows it, and stopping the daemon
// in the middle of it (SIGTERM) seals the clip whole: nothing recorded is
// lost, and it verifies against the device's key.
func TestStopSealsTheClipBeingRecorded(t *testing.T) {
	data := t.TempDir()
	id, err := keys.Generate(keys.Hybrid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := members.Add(data, "anna", id.Recipient, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
	cfg.Motion.Enabled = false // only the ring records
	cfg.Recorder.PostRoll = 60 // still recording when the daemon stops
	d, addr, stop := started(t, cfg, inDir(data))

	sealed, unsubscribe := d.Bus().Subscribe("test", 8)
	defer unsubscribe()
	testkit.Eventually(t, 60*time.Second, "a keyframe from the encoder, for the ring's pre-roll", func() bool {
		return scrapeMetric(t, addr, "doorbell_encoder_keyframes_total") > 0
	})
	d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now(), ID: 1})
	testkit.Eventually(t, 30*time.Second, "the status LED showing the recording", func() bool { return d.LED().State() == gpio.Recording })
	// Two seconds of pictures into the clip, counted rather than slept: a
	// loaded machine encodes late, and the camera skips the frames it is
	// late for, so 30 pictures at 15 fps span at least 2 s.
	recorded := scrapeMetric(t, addr, "doorbell_encoder_access_units_total")
	testkit.Eventually(t, 60*time.Second, "30 more encoded pictures", func() bool {
		return scrapeMetric(t, addr, "doorbell_encoder_access_units_total") >= recorded+30
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wasSealed := false
	for len(sealed) > 0 {
		wasSealed = wasSealed || (<-sealed).Kind == events.ClipSealed
	}
	if !wasSealed {
		t.Fatal("the daemon stopped without sealing the clip it was recording")
	}
	if s := d.LED().State(); s != gpio.Idle {
		t.Errorf("the status LED shows %v after the clip was sealed", s)
	}

	store, err := clipstore.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	list, err := store.List()
	if err != nil || len(list) != 1 || list[0].RecordBytes == 0 {
		t.Fatalf("clips after the stop: %+v (%v), want one with its record", list, err)
	}
	key, err := devicekey.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(store.ClipPath(list[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := os.Open(store.RecordPath(list[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	var mp4 bytes.Buffer
	res, err := clip.Open(&mp4, f, list[0].Bytes, rec, clip.Options{
		Identities: []age.Identity{id.Identity},
		Trusted:    []ed25519.PublicKey{key.Public().(ed25519.PublicKey)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || !res.Verified || res.Video < time.Second {
		t.Errorf("the clip opened as complete=%v verified=%v with %v of video; want a whole, verified clip of over 1 s", res.Complete, res.Verified, res.Video)
	}
}
