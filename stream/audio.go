package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
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
// They run as subprocesses, as the video encoder does: arecord | ffmpeg
// (PCM to Opus RTP on loopback) for the microphone, and ffmpeg | aplay
// (Ogg Opus on stdin to PCM) for the speaker. arecord and aplay set
// ALSA's buffer small (ffmpeg's own ALSA output would take up to the
// device's largest buffer, often over half a second of delay).
type AudioConfig struct {
	FFmpeg         string // the ffmpeg executable; "" means "ffmpeg"
	ARecord, APlay string // alsa-utils' programs; "" means "arecord" and "aplay"
	// Capture is the microphone's ALSA device, such as "plughw:1,0"; ""
	// means no microphone. CaptureArgs, if set, are ffmpeg input
	// arguments used instead of arecord (the demo's synthetic tone).
	Capture     string
	CaptureArgs []string
	// Playback is the speaker's ALSA device; "" means no speaker.
	// PlaybackArgs, if set, are ffmpeg output arguments used instead of
	// aplay (the demo's speaker that discards what it plays).
	Playback     string
	PlaybackArgs []string
	Volume       float64 // of the phone's voice and the replies, 0 to 2; 0 means 1

	// Hold is how long after the speaker's last sound the doorbell's
	// microphone stays muted (half duplex, so the visitor does not hear
	// themselves); 0 means 250 ms.
	Hold time.Duration
	Log  *slog.Logger
}

// ALSA buffer sizes asked of arecord and aplay, in microseconds: the
// speaker's bounds how long it plays on after a release.
const (
	captureBufferUS  = 80000
	playbackBufferUS = 40000
	alsaPeriodUS     = 10000
)

// Audio is the doorbell's microphone and speaker. The microphone runs
// only while Allow says so and at least one viewer receives audio, or
// while a clip records it (Record, when the owner turned on audio in
// clips): otherwise no sound is captured at all. The speaker's player runs
// while someone who could talk is connected, so that talk starts at once.
type Audio struct {
	cfg   AudioConfig
	log   *slog.Logger
	track *webrtc.TrackLocalStaticSample // the microphone, shared by every listener

	talkIn chan talkPacket // the phones' voices, for the player

	mu         sync.Mutex
	listeners  int
	allowed    bool               // the daemon's rule: after a ring, or "listen"
	micStop    context.CancelFunc // the capture running now, or nil
	micDone    chan struct{}
	playerStop context.CancelFunc // the speaker's player running now, or nil
	playerDone chan struct{}
	soundGen   int                // which Play call owns the speaker
	stopSound  context.CancelFunc // the sound Play is playing, or nil
	soundDone  chan struct{}      // closed when it has let go of the speaker
	sounds     int
	onLive     func(bool)
	live       bool
	recording  int  // clips recording the microphone (Record)
	closed     bool // Close was called: nothing runs again

	tapMu     sync.Mutex // held while a packet goes to the clips
	recorders []*recordTap

	lastTalk     atomic.Int64 // unix nanoseconds of a phone's last sound
	lastSpeaker  atomic.Int64 // unix nanoseconds of the speaker's last sound (talk or Play)
	micPackets   atomic.Uint64
	mutedPackets atomic.Uint64
	speakerPkts  atomic.Uint64
	micStarts    atomic.Uint64
	// The CPU time of the microphone's and the speaker's finished
	// processes (arecord, ffmpeg, aplay), for the CPU figures.
	micCPU, speakerCPU atomic.Int64
	failed             atomic.Value // string: the last failure of the microphone or speaker
}

type talkPacket struct {
	payload []byte
	at      time.Time
}

// NewAudio prepares the doorbell's sound; nothing runs until someone listens.
func NewAudio(cfg AudioConfig) (*Audio, error) {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.ARecord == "" {
		cfg.ARecord = "arecord"
	}
	if cfg.APlay == "" {
		cfg.APlay = "aplay"
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
	return &Audio{cfg: cfg, log: cfg.Log, track: track, talkIn: make(chan talkPacket, 64)}, nil
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
	Mic        string `json:"mic"`     // none, off or live
	Speaker    string `json:"speaker"` // none, off, ready (a member could talk), talk, or playing (a reply, the ring sound)
	Listeners  int    `json:"listeners"`
	Recording  int    `json:"recording"` // 1 while a clip records the microphone
	Talking    int    `json:"talking"`   // 1 while a phone's voice is playing
	MicPackets uint64 `json:"mic_packets"`
	Muted      uint64 `json:"mic_packets_muted"` // while the speaker played
	Played     uint64 `json:"speaker_packets"`
	MicStarts  uint64 `json:"mic_starts"`
	Reason     string `json:"reason,omitempty"` // the last failure, and what to do
}

// Status reports the microphone's and speaker's state.
func (a *Audio) Status() AudioStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AudioStatus{Mic: "none", Speaker: "none", Listeners: a.listeners, Recording: a.recording,
		MicPackets: a.micPackets.Load(), Muted: a.mutedPackets.Load(), Played: a.speakerPkts.Load(), MicStarts: a.micStarts.Load()}
	st.Reason, _ = a.failed.Load().(string)
	if a.HasMic() {
		st.Mic = "off"
		if a.micStop != nil {
			st.Mic = "live"
		}
	}
	if a.HasSpeaker() {
		st.Speaker = "off"
		switch {
		case a.sounds > 0:
			st.Speaker = "playing"
		case a.talkingNow():
			st.Speaker, st.Talking = "talk", 1
		case a.playerStop != nil:
			st.Speaker = "ready"
		}
	}
	return st
}

// releaseGap is the silence from the phone that ends its talk; the
// speaker is quiet once ALSA's short buffer has played out.
const releaseGap = 60 * time.Millisecond

func (a *Audio) talkingNow() bool {
	t := a.lastTalk.Load()
	return t != 0 && time.Since(time.Unix(0, t)) < releaseGap
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
			a.listenTo(tr)
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

// updateLocked starts or stops the microphone and the player to match the
// rules: the microphone only while allowed and someone listens; the player
// while someone is connected and no reply or ring sound has the speaker.
func (a *Audio) updateLocked() {
	wantMic := a.HasMic() && !a.closed && (a.allowed && a.listeners > 0 || a.recording > 0)
	switch {
	case wantMic && a.micStop == nil:
		ctx, cancel := context.WithCancel(context.Background())
		a.micStop, a.micDone = cancel, make(chan struct{})
		go a.supervise(ctx, a.micDone, "microphone", a.captureOnce)
	case !wantMic && a.micStop != nil:
		a.micStop()
		a.micStop = nil
	}
	wantPlayer := a.HasSpeaker() && a.listeners > 0 && a.stopSound == nil
	switch {
	case wantPlayer && a.playerStop == nil:
		ctx, cancel := context.WithCancel(context.Background())
		a.playerStop, a.playerDone = cancel, make(chan struct{})
		after := a.soundDone // a sound cut off may still hold the device
		go a.supervise(ctx, a.playerDone, "speaker", func(ctx context.Context) error {
			if after != nil {
				select {
				case <-after:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return a.playOnce(ctx)
		})
	case !wantPlayer && a.playerStop != nil:
		a.playerStop()
		a.playerStop = nil
	}
	if wantMic != a.live {
		a.live = wantMic
		if a.onLive != nil {
			a.onLive(wantMic)
		}
	}
}

// Close stops the microphone and the speaker and waits for them.
func (a *Audio) Close() {
	a.mu.Lock()
	a.allowed = false
	a.listeners = 0
	a.closed = true
	if a.stopSound != nil {
		a.stopSound()
	}
	a.updateLocked()
	var wait []chan struct{}
	for _, c := range []chan struct{}{a.micDone, a.playerDone, a.soundDone} {
		if c != nil {
			wait = append(wait, c)
		}
	}
	a.mu.Unlock()
	for _, c := range wait {
		<-c
	}
}

// supervise runs once until ctx ends, again with backoff after each
// failure, like the camera: a missing or failing sound device never takes
// the daemon down, and /healthz says why.
func (a *Audio) supervise(ctx context.Context, done chan struct{}, what string, once func(context.Context) error) {
	defer close(done)
	if what == "microphone" {
		a.micStarts.Add(1)
	}
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := once(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("it stopped")
		}
		a.failed.Store(fmt.Sprintf("%s: %v", what, err))
		a.log.Warn(what+" failed; retrying with backoff", "err", err)
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

// CaptureArgv returns the microphone's pipeline: arecord on the ALSA device
// (or ffmpeg's own input arguments in), then ffmpeg encoding 20 ms Opus
// packets sent by RTP to 127.0.0.1:port.
func (a *Audio) CaptureArgv(port int) [][]string {
	encode := []string{"-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-application", "voip",
		"-frame_duration", "20", "-compression_level", "5", "-payload_type", "111", "-f", "rtp", "rtp://127.0.0.1:" + strconv.Itoa(port) + "?pkt_size=1200"}
	ff := []string{a.cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-fflags", "nobuffer", "-flags", "low_delay"}
	if len(a.cfg.CaptureArgs) > 0 {
		return [][]string{append(append(ff, a.cfg.CaptureArgs...), encode...)}
	}
	rec := []string{a.cfg.ARecord, "-q", "-D", a.cfg.Capture, "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "1",
		"--buffer-time=" + strconv.Itoa(captureBufferUS), "--period-time=" + strconv.Itoa(alsaPeriodUS), "-"}
	ff = append(ff, "-f", "s16le", "-ar", "48000", "-ac", "1", "-probesize", "32", "-analyzeduration", "0", "-i", "pipe:0")
	return [][]string{rec, append(ff, encode...)}
}

// captureOnce runs the microphone's pipeline and forwards its Opus packets.
func (a *Audio) captureOnce(ctx context.Context) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("cannot open a loopback port for ffmpeg: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := runPipeline(ctx, nil, nil, a.CaptureArgv(conn.LocalAddr().(*net.UDPAddr).Port)...)
	if err != nil {
		return fmt.Errorf("%w; install alsa-utils and ffmpeg", err)
	}
	defer func() { p.kill(); a.micCPU.Add(int64(p.cpu)) }()
	go func() {
		select {
		case <-ctx.Done():
		case <-p.done:
		}
		conn.Close()
	}()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			cancel()
			<-p.done
			if p.err != nil {
				return fmt.Errorf("%v; check audio.capture (arecord -L lists the devices)", p.err)
			}
			return fmt.Errorf("no sound from %s for 2 s; check audio.capture (arecord -L lists the devices)", a.cfg.Capture)
		}
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
			continue
		}
		a.micPackets.Add(1)
		a.toRecorders(pkt.Payload, time.Now())
		if t := a.lastSpeaker.Load(); t != 0 && time.Since(time.Unix(0, t)) < a.cfg.Hold {
			a.mutedPackets.Add(1) // half duplex: the speaker is playing
			continue
		}
		_ = a.track.WriteSample(media.Sample{Data: append([]byte(nil), pkt.Payload...), Duration: 20 * time.Millisecond})
	}
}

// speakerArgv is the pipeline that plays ffmpeg input in on the speaker.
func (a *Audio) speakerArgv(in []string, volume float64) [][]string {
	ff := []string{a.cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"}
	ff = append(ff, in...)
	ff = append(ff, "-ac", "1", "-ar", "48000")
	if volume <= 0 {
		volume = a.cfg.Volume
	}
	if volume != 1 {
		ff = append(ff, "-af", "volume="+strconv.FormatFloat(volume, 'f', 2, 64))
	}
	if len(a.cfg.PlaybackArgs) > 0 {
		return [][]string{append(ff, a.cfg.PlaybackArgs...)}
	}
	play := []string{a.cfg.APlay, "-q", "-D", a.cfg.Playback, "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "1",
		"--buffer-time=" + strconv.Itoa(playbackBufferUS), "--period-time=" + strconv.Itoa(alsaPeriodUS), "-"}
	return [][]string{append(ff, "-f", "s16le", "-flush_packets", "1", "pipe:1"), play}
}

// playOnce runs the speaker's player: the phones' voices as they arrive,
// as Ogg Opus into ffmpeg, PCM into aplay. Between words nothing is
// written and ALSA plays silence; nothing is inserted between the phone's
// frames, which would break the decoder's prediction.
func (a *Audio) playOnce(ctx context.Context) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer w.Close()
	in := []string{"-fflags", "nobuffer", "-flags", "low_delay", "-probesize", "32", "-analyzeduration", "0", "-f", "ogg", "-i", "pipe:0"}
	p, err := runPipeline(ctx, r, nil, a.speakerArgv(in, 0)...)
	r.Close()
	if err != nil {
		return fmt.Errorf("%w; install alsa-utils and ffmpeg", err)
	}
	defer func() { p.kill(); a.speakerCPU.Add(int64(p.cpu)) }()
	ogg, err := oggwriter.NewWith(w, 48000, 2)
	if err != nil {
		return err
	}
	var seq uint16
	write := func(payload []byte) error {
		seq++
		return ogg.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: payload})
	}
	// After the talk stops, a few frames of silence push its last words
	// through ffmpeg and aplay (which plays only whole periods).
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	flushing := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
			return fmt.Errorf("%v; check audio.playback (aplay -L lists the devices)", p.err)
		case t := <-a.talkIn:
			if time.Since(t.at) > 300*time.Millisecond {
				continue // held up while a reply had the speaker: too late to be heard
			}
			if err := write(t.payload); err != nil {
				return fmt.Errorf("the speaker's ffmpeg: %w", err)
			}
			a.speakerPkts.Add(1)
			a.lastSpeaker.Store(time.Now().UnixNano())
			flushing = 3
			flush.Reset(releaseGap)
		case <-flush.C:
			if err := write(opusSilence); err != nil {
				return fmt.Errorf("the speaker's ffmpeg: %w", err)
			}
			if flushing--; flushing > 0 {
				flush.Reset(20 * time.Millisecond)
			}
		}
	}
}

// opusSilence is a 20 ms Opus frame of silence (CELT, fullband), as
// libopus makes it of digital silence.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

// listenTo passes a phone's voice to the speaker's player until the track ends.
func (a *Audio) listenTo(tr *webrtc.TrackRemote) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if len(p.Payload) <= 3 { // DTX, or a muted track's silence: not talk
			continue
		}
		now := time.Now()
		if !a.talkingNow() {
			a.stopSounds() // the member's voice wins over a reply or the ring sound
		}
		a.lastTalk.Store(now.UnixNano())
		a.lastSpeaker.Store(now.UnixNano())
		select {
		case a.talkIn <- talkPacket{payload: p.Payload, at: now}:
		default: // the speaker is behind: drop rather than delay
		}
	}
}
