package daemon

import (
	"testing"
	"time"

	"doorbell/internal/testkit"
	"doorbell/internal/testkit/audiotest"
)

// A clip with sound plays in the phone's player: the Media Source takes
// the Opus track beside the video, and the browser decodes both.
func TestClipWithSoundPlaysInTheBrowser(t *testing.T) {
	audiotest.FileALSA(t, 1000)
	root := newHouseholdRoot(t)
	ctx := trustingBrowser(t, root)
	cfg := smallCamera()
	cfg.Motion.Enabled = false
	cfg.Recorder.PreRoll, cfg.Recorder.PostRoll = 0.5, 2
	cfg.Audio.Capture, cfg.Audio.RecordInClips = "mic", true
	data := t.TempDir()
	testkit.AddMember(t, data, "anna")
	d, origin, _ := appDoorbell(t, root, cfg, inDir(data))
	waitFrames(t, d)
	pairApp(t, ctx, d, origin, "anna")
	pastPairingSecond()
	id := clipID(ringForClip(t, d))
	navigate(t, ctx, origin+"/")
	waitJS(t, ctx, `(document.querySelector('#clips-list [data-id="`+id+`"]') || {dataset: {}}).dataset.state || ''`, 10*time.Second,
		func(s string) bool { return s == "ok" })

	res, err := js[map[string]any](ctx, `doorbell.clips.play('`+id+`')`)
	if err != nil || res["verified"] != true || res["error"] != "" {
		t.Fatalf("playing the clip with sound: %v %v", res, err)
	}
	waitJS(t, ctx, `document.getElementById('clip-video').currentTime`, 10*time.Second, func(v float64) bool { return v > 1 })
	got, _ := js[map[string]any](ctx, `(() => { const v = document.getElementById('clip-video');
		return {frames: v.getVideoPlaybackQuality().totalVideoFrames, audio: v.webkitAudioDecodedByteCount || 0}; })()`)
	if got["frames"].(float64) == 0 || got["audio"].(float64) == 0 {
		t.Errorf("the browser decoded %v: want both pictures and sound", got)
	}
}
