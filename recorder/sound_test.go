package recorder

import (
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"doorbell/events"
	"doorbell/internal/testkit/audiotest"
	"doorbell/stream"
)

// soundProbe is what ffprobe says of each stream: by codec, when it
// starts and how long it lasts, in seconds of the clip.
func soundProbe(t testing.TB, path string) map[string][2]float64 {
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

// The muxer puts the microphone's Opus in a second track beside the
// video, as long as the video, and ffmpeg decodes the tone back out of it.
func TestMuxerPutsTheMicrophoneInASecondTrack(t *testing.T) {
	const fps = 30
	start := time.Now()
	aus := restamp(encoded(t, 320, 240, fps, 91, 500*time.Millisecond), start, fps)
	tone := audiotest.OpusTone(t, 1000, 4, stream.OpusFrame)
	var sink plainSink
	m := newMuxer(&sink, fps, time.Second, 0, true)
	sent := 0
	for _, au := range aus {
		if err := m.add(au); err != nil {
			t.Fatal(err)
		}
		// The microphone starts 200 ms into the clip; its packets arrive
		// with 5 ms of jitter, ahead of the pictures they go with.
		for ; sent < len(tone); sent++ {
			at := start.Add(200*time.Millisecond + time.Duration(sent)*stream.OpusFrame + time.Duration(sent%3)*5*time.Millisecond)
			if at.After(au.Captured.Add(50 * time.Millisecond)) {
				break
			}
			m.addSound(stream.OpusPacket{Data: tone[sent], Captured: at})
		}
	}
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, sink.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	video := float64(len(aus)) / fps
	got := soundProbe(t, path)
	if len(got) != 2 || got["h264"] != [2]float64{0, got["h264"][1]} || math.Abs(got["h264"][1]-video) > 0.05 {
		t.Fatalf("ffprobe streams %v, want h264 of %.2f s and opus", got, video)
	}
	// Whole packets only: the sound ends within a packet of the video.
	if a := got["opus"]; math.Abs(a[0]-0.2) > 0.02 || a[1] > video+0.01 || a[1] < video-stream.OpusFrame.Seconds()-0.01 {
		t.Errorf("the sound is from %.3f s to %.3f s, want from 0.2 s (when the microphone started) to within a packet of the video's end, %.3f s", a[0], a[1], video)
	}
	if errs := decodeErrors(t, path); errs != "" {
		t.Errorf("ffmpeg decode errors: %s", errs)
	}
	if p := audiotest.Goertzel(audiotest.DecodeSound(t, path), 1000); p < 0.5 {
		t.Errorf("1 kHz has %.2f of the decoded sound's power, want most of it", p)
	}
}

// With a microphone, a clip records it: the microphone runs from the
// clip's start (the LED told) to its seal, and not before or after; the
// clip opens with the tone in an Opus track beside the video.
func TestClipsRecordTheMicrophoneWhileTheyRecord(t *testing.T) {
	var live atomic.Int32
	mic, err := stream.NewAudio(stream.AudioConfig{Capture: "demo tone", Card: stream.DemoCard{Hz: 1000}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	mic.OnLive(func(on bool) {
		if on {
			live.Add(1)
		} else {
			live.Add(-1)
		}
	})
	defer mic.Close()
	cfg := defaultTestConfig()
	cfg.PostRoll = 3 * time.Second
	cfg.Microphone = mic
	r := newRig(t, cfg, "alice")
	time.Sleep(1500 * time.Millisecond) // fill the ring for pre-roll
	if mic.Live() || live.Load() != 0 || mic.Status().MicStarts != 0 {
		t.Fatalf("the microphone ran before any clip: %+v", mic.Status())
	}
	r.bus.Publish(events.Event{Kind: events.Ring, Time: time.Now(), ID: 1})
	deadline := time.Now().Add(10 * time.Second)
	for mic.Status().MicPackets < uint64(time.Second/stream.OpusFrame) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !mic.Live() || live.Load() != 1 {
		t.Errorf("while the clip records, the microphone is live=%v (told %d), want live and the LED told", mic.Live(), live.Load())
	}
	id := r.waitSealed()
	if mic.Live() || live.Load() != 0 {
		t.Errorf("after the clip was sealed, the microphone is live=%v (told %d), want off", mic.Live(), live.Load())
	}
	out, res, err := r.open(id, "alice")
	if err != nil || !res.Complete || !res.Verified {
		t.Fatalf("opening the clip: %v %+v", err, res)
	}
	got := soundProbe(t, out)
	dur := res.Record.Duration
	if len(got) != 2 || math.Abs(got["h264"][1]-dur) > 0.1 {
		t.Fatalf("ffprobe streams %v, want h264 of %.2f s and opus", got, dur)
	}
	// The sound starts once the microphone runs, after the ring (arecord's
	// start takes a while on a loaded machine), and goes on to the end, less
	// what was still in the microphone's pipeline when the clip stopped.
	pre := res.Record.Trigger.Sub(res.Record.Start).Seconds()
	if a := got["opus"]; a[0] < pre || a[1] > dur+0.03 || a[1] < dur-0.3 || a[1]-a[0] < 1 {
		t.Errorf("the sound is from %.2f s to %.2f s of the clip's %.2f s (the ring at %.2f s): want from after the ring to the end, over 1 s", a[0], a[1], dur, pre)
	}
	if errs := decodeErrors(t, out); errs != "" {
		t.Errorf("ffmpeg decode errors: %s", errs)
	}
	if p := audiotest.Goertzel(audiotest.DecodeSound(t, out), 1000); p < 0.5 {
		t.Errorf("1 kHz has %.2f of the decoded sound's power, want most of it", p)
	}
}
