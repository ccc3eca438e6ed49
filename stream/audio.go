package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// AudioConfig sets up the doorbell's sound: a microphone whose Opus goes to
// every listening viewer, and a speaker that plays what a member says.
// Both run through ffmpeg subprocesses, as the video encoder does: ALSA
// capture to Opus RTP on loopback, and Ogg Opus on stdin to ALSA playback.
type AudioConfig struct {
	FFmpeg string // the ffmpeg executable; "" means "ffmpeg"
	// Capture is the microphone's ALSA device, such as "plughw:1,0"; ""
	// means no microphone. CaptureArgs, if set, replace "-f alsa -i
	// Capture" (the demo's synthetic tone).
	Capture     string
	CaptureArgs []string
	// Playback is the speaker's ALSA device; "" means no speaker.
	// PlaybackArgs, if set, replace "-f alsa Playback" (the demo's speaker
	// that discards what it plays).
	Playback     string
	PlaybackArgs []string
	Volume       float64 // of the speaker, 0 to 2; 0 means 1

	// Hold is how long after the phone's last sound the doorbell's
	// microphone stays muted (half duplex, so the visitor does not hear
	// themselves); 0 means 250 ms.
	Hold time.Duration
	Log  *slog.Logger
}

// Audio is the doorbell's microphone and speaker. The microphone runs
// only while Live says so and at least one viewer receives audio: with
// nobody listening, no sound is captured at all.
type Audio struct {
	cfg   AudioConfig
	log   *slog.Logger
	track *webrtc.TrackLocalStaticSample // the microphone, shared by every listener

	mu        sync.Mutex
	listeners int
	allowed   bool               // the daemon's rule: after a ring, or "listen"
	micStop   context.CancelFunc // the capture running now, or nil
	micDone   chan struct{}
	talking   int // phone tracks playing now
	sounds    int // Play calls playing now
	stopSound context.CancelFunc
	onLive    func(bool)
	live      bool

	lastTalk      atomic.Int64 // unix nanoseconds of the phone's last packet
	micPackets    atomic.Uint64
	mutedPackets  atomic.Uint64
	speakerPkts   atomic.Uint64
	micStarts     atomic.Uint64
	captureFailed atomic.Value // string: the microphone's last failure
}

// NewAudio prepares the doorbell's sound; nothing runs until someone listens.
func NewAudio(cfg AudioConfig) (*Audio, error) {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 250 * time.Millisecond
	}
	if cfg.Volume <= 0 {
		cfg.Volume = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "doorbell")
	if err != nil {
		return nil, err
	}
	return &Audio{cfg: cfg, log: cfg.Log, track: track}, nil
}

// HasMic reports whether a microphone is configured.
func (a *Audio) HasMic() bool { return a.cfg.Capture != "" || len(a.cfg.CaptureArgs) > 0 }

// HasSpeaker reports whether a speaker is configured.
func (a *Audio) HasSpeaker() bool { return a.cfg.Playback != "" || len(a.cfg.PlaybackArgs) > 0 }

// OnLive sets f to be told each time the microphone goes live or off (the
// status LED shows it to the visitor).
func (a *Audio) OnLive(f func(bool)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onLive = f
}

// Allow says whether the microphone may be live at all (the daemon's rule:
// within a few minutes of a ring, or after a member tapped "listen").
func (a *Audio) Allow(ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowed = ok
	a.updateLocked()
}

// Live reports whether the microphone is capturing now.
func (a *Audio) Live() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.micStop != nil
}

// AudioStatus is the "audio" section of /healthz.
type AudioStatus struct {
	Mic        string `json:"mic"` // none, off, live, or failing (with Reason)
	Speaker    string `json:"speaker"`
	Listeners  int    `json:"listeners"`
	Talking    int    `json:"talking"`
	MicPackets uint64 `json:"mic_packets"`
	Muted      uint64 `json:"mic_packets_muted"` // while the speaker played
	Played     uint64 `json:"speaker_packets"`
	MicStarts  uint64 `json:"mic_starts"`
	Reason     string `json:"reason,omitempty"`
}

// Status reports the microphone's and speaker's state.
func (a *Audio) Status() AudioStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AudioStatus{Mic: "none", Speaker: "none", Listeners: a.listeners, Talking: a.talking,
		MicPackets: a.micPackets.Load(), Muted: a.mutedPackets.Load(), Played: a.speakerPkts.Load(), MicStarts: a.micStarts.Load()}
	if a.HasMic() {
		st.Mic = "off"
		if a.micStop != nil {
			st.Mic = "live"
		}
		if r, _ := a.captureFailed.Load().(string); r != "" && a.micStop != nil {
			st.Mic, st.Reason = "failing", r
		}
	}
	if a.HasSpeaker() {
		st.Speaker = "idle"
		if a.talking > 0 {
			st.Speaker = "talk"
		} else if a.sounds > 0 {
			st.Speaker = "playing"
		}
	}
	return st
}

// attach adds audio to a viewer's peer connection: the doorbell's
// microphone to it, and its microphone, if it sends one, to the speaker.
// It returns a function that detaches the viewer when the session ends.
func (a *Audio) attach(pc *webrtc.PeerConnection) (detach func(), err error) {
	dir := webrtc.RTPTransceiverDirectionSendrecv
	if !a.HasSpeaker() {
		dir = webrtc.RTPTransceiverDirectionSendonly
	}
	if _, err := pc.AddTransceiverFromTrack(a.track, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		return nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeAudio && a.HasSpeaker() {
			a.play(tr)
		}
	})
	a.mu.Lock()
	a.listeners++
	a.updateLocked()
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.listeners--
			a.updateLocked()
			a.mu.Unlock()
		})
	}, nil
}

// updateLocked starts or stops the microphone to match the rule: live
// only while allowed and someone listens.
func (a *Audio) updateLocked() {
	want := a.HasMic() && a.allowed && a.listeners > 0
	switch {
	case want && a.micStop == nil:
		ctx, cancel := context.WithCancel(context.Background())
		a.micStop, a.micDone = cancel, make(chan struct{})
		go a.runMic(ctx, a.micDone)
	case !want && a.micStop != nil:
		a.micStop()
		a.micStop = nil
		// runMic ends on its own; Close waits for it.
	}
	if want != a.live {
		a.live = want
		if a.onLive != nil {
			a.onLive(want)
		}
	}
}

// Close stops the microphone and waits for it.
func (a *Audio) Close() {
	a.mu.Lock()
	stop, done := a.micStop, a.micDone
	a.micStop = nil
	a.allowed = false
	a.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// runMic captures until ctx ends, restarting ffmpeg with backoff when it fails.
func (a *Audio) runMic(ctx context.Context, done chan struct{}) {
	defer close(done)
	a.micStarts.Add(1)
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := a.captureOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		a.captureFailed.Store(err.Error())
		a.log.Warn("microphone failed; retrying with backoff", "err", err)
		if time.Since(started) > 10*time.Second {
			backoff = 250 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// CaptureArgs returns ffmpeg's arguments to capture input (ALSA device
// arguments) as 20 ms Opus packets sent by RTP to 127.0.0.1:port.
func CaptureArgs(input []string, port int) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-fflags", "nobuffer", "-flags", "low_delay"}
	args = append(args, input...)
	return append(args, "-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-application", "voip",
		"-frame_duration", "20", "-vbr", "off", "-payload_type", "111", "-f", "rtp", "rtp://127.0.0.1:"+strconv.Itoa(port)+"?pkt_size=1200")
}

func (a *Audio) captureInput() []string {
	if len(a.cfg.CaptureArgs) > 0 {
		return a.cfg.CaptureArgs
	}
	return []string{"-f", "alsa", "-sample_rate", "48000", "-channels", "1", "-i", a.cfg.Capture}
}

// captureOnce runs one ffmpeg capture and forwards its Opus packets.
func (a *Audio) captureOnce(ctx context.Context) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("microphone: cannot open a loopback port for ffmpeg: %w", err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	cmd := exec.CommandContext(ctx, a.cfg.FFmpeg, CaptureArgs(a.captureInput(), port)...)
	stderr := &tailWriter{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("microphone: cannot start %s: %w; install ffmpeg or set audio.ffmpeg", a.cfg.FFmpeg, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	first := true
	for {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			_ = cmd.Process.Kill()
			werr := <-exited
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if line := stderr.lastLine(); line != "" {
				return fmt.Errorf("microphone %s: ffmpeg: %s; check audio.capture (arecord -L lists the devices)", a.cfg.Capture, line)
			}
			return fmt.Errorf("microphone %s: no sound for 2 s (%v, ffmpeg: %v); check audio.capture (arecord -L lists the devices)", a.cfg.Capture, err, werr)
		}
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
			continue
		}
		if first {
			first = false
			a.captureFailed.Store("")
		}
		a.micPackets.Add(1)
		if time.Since(time.Unix(0, a.lastTalk.Load())) < a.cfg.Hold {
			a.mutedPackets.Add(1) // half duplex: the speaker is playing
			continue
		}
		_ = a.track.WriteSample(media.Sample{Data: append([]byte(nil), pkt.Payload...), Duration: 20 * time.Millisecond})
	}
}

// PlaybackArgs returns ffmpeg's arguments to play Ogg Opus from stdin on output.
func PlaybackArgs(output []string, volume float64) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-fflags", "nobuffer", "-flags", "low_delay",
		"-probesize", "32", "-analyzeduration", "0", "-f", "ogg", "-i", "pipe:0", "-ac", "1", "-ar", "48000"}
	if volume != 1 {
		args = append(args, "-af", "volume="+strconv.FormatFloat(volume, 'f', 2, 64))
	}
	return append(args, output...)
}

func (a *Audio) playbackOutput() []string {
	if len(a.cfg.PlaybackArgs) > 0 {
		return a.cfg.PlaybackArgs
	}
	return []string{"-f", "alsa", a.cfg.Playback}
}

// play sends a phone's microphone to the speaker until its track ends.
// Each burst of talk (hold-to-talk) starts ffmpeg when its first packet
// arrives, and stops it as soon as the phone is silent for 60 ms, so a
// release is heard to stop at once, and the microphone is muted meanwhile.
func (a *Audio) play(tr *webrtc.TrackRemote) {
	packets := make(chan *rtp.Packet, 64)
	go func() {
		defer close(packets)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if len(p.Payload) <= 3 { // DTX or a muted track's comfort noise: not talk
				continue
			}
			select {
			case packets <- p:
			default: // the speaker is behind: drop rather than delay
			}
		}
	}()
	for p := range packets {
		if !a.burst(p, packets) {
			return
		}
	}
}

// releaseGap is the silence from the phone that ends a burst of talk.
const releaseGap = 60 * time.Millisecond

// releaseFlush is how long the speaker may play on after a burst ends.
const releaseFlush = 30 * time.Millisecond

// burst plays one burst of talk, starting with p; it reports false when
// the track ended.
func (a *Audio) burst(p *rtp.Packet, packets <-chan *rtp.Packet) bool {
	a.stopSounds() // the member's voice wins over a reply or the ring sound
	cmd := exec.Command(a.cfg.FFmpeg, PlaybackArgs(a.playbackOutput(), a.cfg.Volume)...)
	stdin, err := cmd.StdinPipe()
	stderr := &tailWriter{}
	cmd.Stderr = stderr
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		a.log.Warn("speaker: cannot start ffmpeg; the phone's voice is not played", "err", err)
		return drain(packets)
	}
	a.mu.Lock()
	a.talking++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.talking--
		a.mu.Unlock()
	}()
	ogg, err := oggwriter.NewWith(stdin, 48000, 2)
	ok := true
	if err == nil {
		gap := time.NewTimer(releaseGap)
		defer gap.Stop()
	talk:
		for {
			a.lastTalk.Store(time.Now().UnixNano())
			a.speakerPkts.Add(1)
			if err = ogg.WriteRTP(p); err != nil {
				break
			}
			gap.Reset(releaseGap)
			select {
			case q, more := <-packets:
				if !more {
					ok = false
					break talk
				}
				p = q
			case <-gap.C:
				break talk
			}
		}
	}
	// Released: let ffmpeg play what it has for at most releaseFlush, then
	// cut it off, so the speaker stops within 100 ms of the release.
	_ = stdin.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(releaseFlush):
		_ = cmd.Process.Kill()
		<-exited
	}
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		a.log.Warn("speaker failed", "err", err, "ffmpeg", stderr.lastLine())
	}
	return ok
}

func drain(packets <-chan *rtp.Packet) bool {
	for range packets {
	}
	return false
}
