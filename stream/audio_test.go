package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"doorbell/internal/testkit/audiotest"
)

// payloads are the packets' Opus.
func payloads(pkts []*rtp.Packet) [][]byte {
	out := make([][]byte, len(pkts))
	for i, p := range pkts {
		out[i] = p.Payload
	}
	return out
}

// audioPeer is a phone: it watches, listens, and talks with mic.
type audioPeer struct {
	pc       *webrtc.PeerConnection
	mic      *webrtc.TrackLocalStaticSample
	mu       sync.Mutex
	received []*rtp.Packet
	arrivals []time.Time
	video    atomic.Int64
}

func dialAudio(t testing.TB, base string, withAudio bool) *audioPeer {
	t.Helper()
	p := &audioPeer{}
	pc, err := sharedClientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p.pc = pc
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	if withAudio {
		p.mic, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "phone")
		if _, err := pc.AddTransceiverFromTrack(p.mic, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				p.video.Add(1)
				continue
			}
			p.mu.Lock()
			p.received = append(p.received, pkt)
			p.arrivals = append(p.arrivals, time.Now())
			p.mu.Unlock()
		}
	})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	status, _, body, err := post(base, "good-token", "application/sdp", pc.LocalDescription().SDP)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("WHEP: %d %s %v", status, body, err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *audioPeer) packets() []*rtp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*rtp.Packet(nil), p.received...)
}

// sendRealTime sends pkts as a phone's microphone does: one each
// OpusFrame, as the doorbell's answer asks.
func sendRealTime(t testing.TB, mic *webrtc.TrackLocalStaticSample, pkts [][]byte) {
	t.Helper()
	tick := time.NewTicker(OpusFrame)
	defer tick.Stop()
	for _, pkt := range pkts {
		if err := mic.WriteSample(media.Sample{Data: pkt, Duration: OpusFrame}); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(d, cond) {
		t.Fatalf("not within %v: %s", d, what)
	}
}

// Two-way audio through real ALSA code paths: no sound is captured while
// nobody listens or while listening is not allowed; a viewer without audio
// gets video only; the doorbell's 1 kHz microphone reaches the phone; the
// phone's 440 Hz reaches the speaker, with the microphone muted meanwhile
// (half duplex); and releasing the talk button stops the speaker.
func TestTwoWayAudio(t *testing.T) {
	speaker := audiotest.FileALSA(t, 1000)
	a, err := NewAudio(AudioConfig{Capture: "mic", Playback: "spk", Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	var liveChanges atomic.Int64
	a.OnLive(func(bool) { liveChanges.Add(1) })
	p := startPipeline(t, pipelineConfig{audio: a})
	base := p.srv.URL + "/whep"

	// Allowed but nobody listens: nothing captures.
	a.Allow(true)
	videoOnly := dialAudio(t, base, false)
	eventually(t, 10*time.Second, "video for a viewer without audio", func() bool { return videoOnly.video.Load() > 0 })
	if st := a.Status(); st.MicStarts != 0 || st.Mic != "off" || st.Listeners != 0 {
		t.Fatalf("with no listener the microphone ran: %+v", st)
	}

	// A listener, but listening not allowed (no ring, no "listen"): nothing captures.
	a.Allow(false)
	phone := dialAudio(t, base, true)
	eventually(t, 10*time.Second, "video for the listener", func() bool { return phone.video.Load() > 0 })
	if st := a.Status(); st.MicStarts != 0 || st.Listeners != 1 || len(phone.packets()) > 0 {
		t.Fatalf("the microphone ran while not allowed: %+v", st)
	}

	// Allowed: the doorbell's 1 kHz tone reaches the phone.
	a.Allow(true)
	eventually(t, 10*time.Second, "a second of the doorbell's sound at the phone", func() bool { return len(phone.packets()) >= 50 })
	if liveChanges.Load() != 1 || !a.Live() {
		t.Errorf("live changes %d, live %v: the LED must be told", liveChanges.Load(), a.Live())
	}
	pcm := audiotest.DecodeOpus(t, payloads(phone.packets()))
	if k, l := audiotest.ToneShare(pcm, 1000, 440); k < 0.5 || k < 10*l {
		t.Errorf("the phone's sound: 1 kHz carries %.2f of the power, its neighbours and 440 Hz at most %.2f; want the doorbell's 1 kHz tone", k, l)
	}

	// Hold to talk: the phone's 440 Hz goes to the speaker, the microphone is muted.
	mutedBefore := a.Status().Muted
	talk := audiotest.OpusTone(t, 440, 1.5, OpusFrame)
	sendRealTime(t, phone.mic, talk)
	released := time.Now()
	eventually(t, 2*time.Second, "the speaker stopping after the release", func() bool { return a.Status().Talking == 0 })
	t.Logf("release to speaker stopped: %v", time.Since(released))
	if st := a.Status(); st.Muted <= mutedBefore || st.Played < uint64(len(talk))*2/3 {
		t.Errorf("while the phone talked: %d microphone packets muted, %d of %d played; want the microphone muted and the speaker playing", st.Muted-mutedBefore, st.Played, len(talk))
	}
	// The speaker's whole output: a packet the loaded machine delivered
	// late, or lost, leaves a gap or concealment, not another tone.
	eventually(t, 5*time.Second, "the speaker's program writing what it played", func() bool {
		return len(speaker.Played()) >= len(talk)*2/3*frameBytes
	})
	out := speaker.Played()
	if k, l := audiotest.ToneShare(audiotest.Loud(out), 440, 1000); k < 0.5 || k < 10*l {
		t.Errorf("the speaker's output (%d bytes): 440 Hz carries %.2f of the power, its neighbours and 1 kHz at most %.2f; want the phone's 440 Hz", len(out), k, l)
	}

	// The listener leaves: the microphone stops.
	_ = phone.pc.Close()
	eventually(t, 5*time.Second, "the microphone stopping when the last listener left", func() bool { return !a.Live() })
}

// The ring sound plays on the speaker through ALSA, at the volume asked
// for; without a speaker Play says what to configure.
func TestPlayRingSound(t *testing.T) {
	speaker := audiotest.FileALSA(t, 1000)
	a, err := NewAudio(AudioConfig{Playback: "spk", Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	level := func(volume float64) ([]byte, float64) {
		t.Helper()
		speaker.Reset()
		if err := a.Play(context.Background(), RingSound, volume); err != nil {
			t.Fatal(err)
		}
		out := speaker.Played()
		return out, audiotest.RMS(out)
	}
	out, loud := level(1)
	if hi, lo, other := audiotest.Goertzel(out, 660), audiotest.Goertzel(out, 550), audiotest.Goertzel(out, 1000); hi+lo < 0.3 || other > 0.02 {
		t.Errorf("the ring sound (%d bytes): 660 Hz %.2f, 550 Hz %.2f, 1 kHz %.2f of the power; want the two tones", len(out), hi, lo, other)
	}
	_, quiet := level(0.25)
	if r := quiet / loud; r < 0.2 || r > 0.3 {
		t.Errorf("at volume 0.25 the ring sound is %.2f as loud as at 1", r)
	}
	none, _ := NewAudio(AudioConfig{})
	if err := none.Play(context.Background(), RingSound, 1); !errors.Is(err, ErrNoSpeaker) {
		t.Errorf("Play without a speaker: %v", err)
	}
}

// A microphone or speaker that is missing is retried with backoff and
// /healthz says why; nothing else stops.
func TestMissingSoundDevice(t *testing.T) {
	audiotest.FileALSA(t, 1000)
	a, err := NewAudio(AudioConfig{Capture: "no-such-mic", Playback: "no-such-speaker", Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	p := startPipeline(t, pipelineConfig{audio: a})
	a.Allow(true)
	phone := dialAudio(t, p.srv.URL+"/whep", true)
	eventually(t, 10*time.Second, "video despite the missing sound devices", func() bool { return phone.video.Load() > 0 })
	eventually(t, 10*time.Second, "the reason in the status", func() bool {
		r := a.Status().Reason
		return strings.Contains(r, "arecord -L") || strings.Contains(r, "aplay -L")
	})
	st := a.Status()
	if st.Mic != "live" || st.MicStarts != 1 {
		t.Errorf("the microphone gave up: %+v", st)
	}
	t.Logf("reason: %s", st.Reason)
}

// The answer asks for OpusFrame packets in each audio section it accepts,
// once, and leaves video, a refused audio section and an answer without
// audio as they were.
func TestAnswerAsksForThePacketLength(t *testing.T) {
	const head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	const video = "m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:102 H264/90000\r\n"
	audio := func(port int, extra string) string {
		return fmt.Sprintf("m=audio %d UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n%s", port, extra)
	}
	want := fmt.Sprintf("a=ptime:%d\r\n", OpusFrame.Milliseconds())
	for _, c := range []struct {
		name, in string
		ptimes   int
	}{
		{"video and audio", head + video + audio(9, ""), 1},
		{"video only", head + video, 0},
		{"audio refused", head + video + audio(0, ""), 0},
		{"already asked", head + audio(9, want), 1},
	} {
		out, err := askPtime(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := strings.Count(out, "a=ptime:"); n != c.ptimes || c.ptimes == 1 && !strings.Contains(out, want) {
			t.Errorf("%s: %d ptime lines, want %d of %q:\n%s", c.name, n, c.ptimes, want, out)
		}
		if c.ptimes == 0 && out != c.in {
			t.Errorf("%s: the answer changed:\n%s", c.name, out)
		}
		if !strings.Contains(out, "a=rtpmap:") {
			t.Errorf("%s: the codecs went missing:\n%s", c.name, out)
		}
	}
	if _, err := askPtime("not sdp"); err == nil {
		t.Error("an answer that does not parse: no error")
	}
}
