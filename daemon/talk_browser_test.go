package daemon

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"doorbell/config"
	"doorbell/events"
	"doorbell/internal/testkit/audiotest"
	"doorbell/stream"
)

// peakHz is page JavaScript: the loudest frequency of the remote audio
// track, by WebAudio's AnalyserNode, over about half a second.
const peakHz = `(async () => {
  const v = document.getElementById('video');
  const tr = v.srcObject && v.srcObject.getAudioTracks()[0];
  if (!tr) return -1;
  const ac = window.__ac || (window.__ac = new AudioContext());
  await ac.resume();
  const an = ac.createAnalyser();
  an.fftSize = 4096;
  ac.createMediaStreamSource(new MediaStream([tr])).connect(an);
  const bins = new Float32Array(an.frequencyBinCount);
  const sum = new Float32Array(an.frequencyBinCount);
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 50));
    an.getFloatFrequencyData(bins);
    for (let k = 0; k < bins.length; k++) sum[k] += Math.pow(10, bins[k] / 10);
  }
  let best = 0;
  for (let k = 1; k < sum.length; k++) if (sum[k] > sum[best]) best = k;
  return sum[best] > 0 ? best * ac.sampleRate / an.fftSize : -1;
})()`

// Talking in a real browser: Chromium's fake microphone plays a 440 Hz
// tone; held, the talk button sends it and the doorbell's speaker (ALSA)
// carries 440 Hz; released, the speaker stops. The doorbell's microphone,
// fed 1 kHz, is heard by Chromium (AnalyserNode on the remote track) after
// a ring. A built-in quick reply plays with one tap.
func TestBrowserTalksAndListens(t *testing.T) {
	speaker := audiotest.FileALSA(t, 1000)
	wav := filepath.Join(t.TempDir(), "tone.wav")
	if err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60", "-ac", "1", wav).Run(); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
	cfg.Motion.Enabled = false
	cfg.Audio.Capture, cfg.Audio.Playback = "mic", "spk"
	d, addr := startedTB(t, cfg)
	pairBrowser(t, ctx, d, addr, "anna")

	// Sound on: the app calls again with audio both ways. (The talk panel
	// is set up once the first picture is up.)
	waitJS(t, ctx, `!!document.getElementById('talk-enable')`, 10*time.Second, func(b bool) bool { return b })
	if _, err := js[bool](ctx, `(() => { document.getElementById('talk-enable').click(); return true; })()`); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `window.doorbell ? doorbell.framesDecoded() : 0`, 15*time.Second, func(n int) bool { return n > 0 })
	waitJS(t, ctx, `!document.getElementById('talk-hold').hidden`, 10*time.Second, func(b bool) bool { return b })

	// The doorbell's microphone is off until the ring; then Chromium hears 1 kHz.
	if st := d.audioStatus(t, addr); st.MicStarts != 0 || st.Listeners != 1 {
		t.Fatalf("before the ring: %+v; want one listener and nothing captured", st)
	}
	d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now(), ID: 1})
	hz := waitJS(t, ctx, peakHz, 15*time.Second, func(f float64) bool { return f > 900 && f < 1100 })
	t.Logf("Chromium hears the doorbell's microphone at %.0f Hz", hz)

	// Hold to talk: the speaker plays the fake microphone's 440 Hz, and the
	// doorbell's microphone is muted meanwhile.
	if _, err := js[bool](ctx, `(() => { document.getElementById('talk-hold').dispatchEvent(new PointerEvent('pointerdown', {bubbles: true})); return true; })()`); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `doorbell.talk.sending`, 10*time.Second, func(b bool) bool { return b })
	waitUntil(t, 10*time.Second, "the speaker playing the phone", func() bool { state, _ := d.speaker(t, addr); return state == "talk" })
	_, played := d.speaker(t, addr)
	packets := uint64(1500 * time.Millisecond / stream.OpusFrame)
	waitUntil(t, 15*time.Second, "a second and a half of talk played", func() bool { _, n := d.speaker(t, addr); return n >= played+packets })
	// Chromium sends the packet length the answer asks for (a=ptime).
	var audio struct {
		PacketMS int64 `json:"talk_packet_ms"`
	}
	if err := json.Unmarshal([]byte(healthJSON(t, addr, "audio")), &audio); err != nil || audio.PacketMS != stream.OpusFrame.Milliseconds() {
		t.Errorf("Chromium's talk packets carry %d ms (%v), want the %v the answer asks for", audio.PacketMS, err, stream.OpusFrame)
	}
	if _, err := js[bool](ctx, `(() => { document.getElementById('talk-hold').dispatchEvent(new PointerEvent('pointerup', {bubbles: true})); return true; })()`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the speaker stopping after the release", func() bool { state, _ := d.speaker(t, addr); return state != "talk" })
	checkTone(t, "the speaker's output", audiotest.Loud(speaker.Played()), 440)

	// A built-in quick reply, one tap.
	waitJS(t, ctx, `(async () => { const r = await fetch('/api/replies', {headers: {Authorization: 'Bearer ' + doorbellBoot.token}}); return (await r.json()).replies.length; })()`,
		60*time.Second, func(n int) bool { return n >= 6 })
	speaker.Reset()
	if _, err := js[bool](ctx, `(async () => {
	  const r = await fetch('/api/replies/coming-en/play', {method: 'POST', headers: {Authorization: 'Bearer ' + doorbellBoot.token}});
	  return r.status === 202; })()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(speaker.Played()) <= 48000 { // half a second of speech or more
		if time.Now().After(deadline) {
			t.Fatalf("no quick reply on the speaker within 10 s (%d bytes played); /healthz audio: %s", len(speaker.Played()), healthJSON(t, addr, "audio"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// speaker is what /healthz says of the speaker: its state, and how many
// of a phone's packets it has played.
func (d *Daemon) speaker(t testing.TB, addr string) (state string, played uint64) {
	t.Helper()
	var h struct {
		Audio struct {
			Speaker string
			Played  uint64 `json:"speaker_packets"`
		}
	}
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp, &h); err != nil {
		t.Fatal(err)
	}
	return h.Audio.Speaker, h.Audio.Played
}

// healthJSON returns one section of /healthz as JSON, for messages.
func healthJSON(t testing.TB, addr, name string) string {
	t.Helper()
	var h map[string]json.RawMessage
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp, &h); err != nil {
		return err.Error()
	}
	return string(h[name])
}

// checkTone fails t unless hz stands out in pcm: a good share of the
// power, and twenty times the share of the frequencies around it.
func checkTone(t testing.TB, what string, pcm []byte, hz float64) {
	t.Helper()
	if at, worst := audiotest.ToneShare(pcm, hz, 1000); at < 0.1 || at < 20*worst {
		t.Errorf("%s (%d bytes of sound): %g Hz has %.2f of the power, the strongest of its neighbours %.3f; want a clear %g Hz", what, len(pcm), hz, at, worst, hz)
	}
}
