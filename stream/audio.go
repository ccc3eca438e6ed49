package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// AudioConfig sets up the doorbell's sound: a microphone whose Opus goes to
// every listening viewer, and a speaker that plays what a member says.
// libopus encodes and decodes in the daemon; the sound card moves PCM
// (arecord and aplay on ALSA, with small buffers).
type AudioConfig struct {
	// FFmpeg decodes the quick replies and the ring sound for the
	// speaker; "" means "ffmpeg".
	FFmpeg         string
	ARecord, APlay string // alsa-utils' programs; "" means "arecord" and "aplay"
	// Capture is the microphone's ALSA device, such as "plughw:1,0"; ""
	// means no microphone.
	Capture string
	// Playback is the speaker's ALSA device; "" means no speaker.
	Playback string
	// Card, if set, is the sound card instead of ALSA on Capture and
	// Playback (the demo's DemoCard), which then only name the devices.
	Card   SoundCard
	Volume float64 // of the phone's voice and the replies, 0 to 2; 0 means 1

	// Hold is how long after the speaker's last sound the doorbell's
	// microphone stays muted (half duplex, so the visitor does not hear
	// themselves); 0 means 250 ms.
	Hold time.Duration
	Log  *slog.Logger
}

// Audio is the doorbell's microphone and speaker. The microphone runs
// only while Allow says so and at least one viewer receives audio, or
// while a clip records it (Record, when the owner turned on audio in
// clips): otherwise no sound is captured at all. The speaker's player runs
// while someone who could talk is connected, so that talk starts at once.
type Audio struct {
	cfg   AudioConfig
	card  SoundCard
	log   *slog.Logger
	track *webrtc.TrackLocalStaticSample // the microphone, shared by every listener

	talkMu sync.Mutex
	player *talkPlayer     // the speaker's player running now, or nil
	talkIn chan talkPacket // the phones' voices while no player runs, for the next

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
	talkPacketMS atomic.Int64
	// The CPU time of the microphone's and the speaker's finished
	// processes (arecord, aplay), for the CPU figures.
	micCPU, speakerCPU atomic.Int64
	failed             atomic.Value // string: the last failure of the microphone or speaker
}

type talkPacket struct {
	payload []byte
	at      time.Time
	lost    int // packets of the phone's missing just before this one
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
	card := cfg.Card
	if card == nil {
		card = ALSA{ARecord: cfg.ARecord, APlay: cfg.APlay, CaptureDevice: cfg.Capture, PlaybackDevice: cfg.Playback}
	}
	return &Audio{cfg: cfg, card: card, log: cfg.Log, track: track, talkIn: make(chan talkPacket, 64)}, nil
}

// HasMic reports whether a microphone is configured.
func (a *Audio) HasMic() bool { return a.cfg.Capture != "" }

// HasSpeaker reports whether a speaker is configured.
func (a *Audio) HasSpeaker() bool { return a.cfg.Playback != "" }

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
	// TalkPacketMS is how much sound the phones' last packet carried: the
	// answer asks for OpusFrame; a browser that ignores it sends 20.
	TalkPacketMS int    `json:"talk_packet_ms,omitempty"`
	Reason       string `json:"reason,omitempty"` // the last failure, and what to do
}

// Status reports the microphone's and speaker's state.
func (a *Audio) Status() AudioStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AudioStatus{Mic: "none", Speaker: "none", Listeners: a.listeners, Recording: a.recording,
		MicPackets: a.micPackets.Load(), Muted: a.mutedPackets.Load(), Played: a.speakerPkts.Load(), MicStarts: a.micStarts.Load(),
		TalkPacketMS: int(a.talkPacketMS.Load())}
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

// releaseGap is the silence from the phone that ends its talk (two of its
// packets); the speaker is quiet once ALSA's short buffer has played out.
const releaseGap = 2 * OpusFrame

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

// captureOnce encodes the microphone's sound as it comes, a packet
// (OpusFrame) at a time, and sends it on.
func (a *Audio) captureOnce(ctx context.Context) error {
	enc, err := newMicEncoder(micComplexity)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mic, err := a.card.Capture(ctx)
	if err != nil {
		return fmt.Errorf("microphone %s: %w", a.cfg.Capture, err)
	}
	defer func() {
		cancel()
		_ = mic.Close()
		if c, ok := mic.(cpuUser); ok {
			a.micCPU.Add(int64(c.cpu()))
		}
	}()
	deadline, _ := mic.(interface{ SetReadDeadline(time.Time) error })
	frame := make([]byte, frameBytes)
	for i := 0; ; i++ {
		if deadline != nil && i%25 == 0 { // each 0.5 s: a timer reset a frame costs more than the read
			_ = deadline.SetReadDeadline(time.Now().Add(2 * time.Second))
		}
		if _, err := io.ReadFull(mic, frame); err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("no sound from %s for 1.5 s; check audio.capture (arecord -L lists the devices)", a.cfg.Capture)
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return fmt.Errorf("the microphone %s stopped; check audio.capture (arecord -L lists the devices)", a.cfg.Capture)
			}
			return fmt.Errorf("%w; check audio.capture (arecord -L lists the devices)", err)
		}
		captured := time.Now()
		pkt, err := enc.encode(frame)
		if err != nil {
			return err
		}
		a.micPackets.Add(1)
		a.toRecorders(pkt, captured)
		if t := a.lastSpeaker.Load(); t != 0 && time.Since(time.Unix(0, t)) < a.cfg.Hold {
			a.mutedPackets.Add(1) // half duplex: the speaker is playing
			continue
		}
		// pion's Opus payloader copies the packet before WriteSample returns.
		_ = a.track.WriteSample(media.Sample{Data: pkt, Duration: OpusFrame})
	}
}

// decodeArgv is ffmpeg decoding input in to the speaker's PCM, on stdout.
func (a *Audio) decodeArgv(in []string, volume float64) []string {
	ff := []string{a.cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"}
	ff = append(ff, in...)
	ff = append(ff, "-ac", "1", "-ar", strconv.Itoa(sampleRate))
	if volume <= 0 {
		volume = a.cfg.Volume
	}
	if volume != 1 {
		ff = append(ff, "-af", "volume="+strconv.FormatFloat(volume, 'f', 2, 64))
	}
	return append(ff, "-f", "s16le", "pipe:1")
}

// maxConcealed is the most lost packets in a row the speaker fills in:
// a longer gap is a pause in the talk, and plays as silence.
const maxConcealed = 5

// playOnce runs the speaker for the phones' voices. The packets are
// played by the goroutines that read them (toSpeaker): handing each to
// this one would wake another thread per packet, which costs more than
// decoding it. This one starts the speaker's program, plays what waited
// for it, and stops on failure.
func (a *Audio) playOnce(ctx context.Context) error {
	dec, err := newSpeakerDecoder(a.cfg.Volume)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spk, err := a.card.Playback(ctx)
	if err != nil {
		return fmt.Errorf("speaker %s: %w", a.cfg.Playback, err)
	}
	p := &talkPlayer{a: a, dec: dec, spk: spk, failed: make(chan error, 1)}
	defer func() {
		a.talkMu.Lock()
		a.player = nil
		a.talkMu.Unlock()
		cancel()
		_ = spk.Close() // a packet being written fails now
		p.stop()
		if c, ok := spk.(cpuUser); ok {
			a.speakerCPU.Add(int64(c.cpu()))
		}
	}()
	var stopped <-chan struct{} // the speaker's program ended by itself
	if s, ok := spk.(interface{ stopped() <-chan struct{} }); ok {
		stopped = s.stopped()
	}
	a.talkMu.Lock()
	for waiting := true; waiting; { // what came while the speaker was busy, in order
		select {
		case t := <-a.talkIn:
			p.play(t)
		default:
			waiting = false
		}
	}
	a.player = p
	a.talkMu.Unlock()
	failed := func(err error) error {
		if cerr := spk.Close(); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("speaker %s: %v; check audio.playback (aplay -L lists the devices)", a.cfg.Playback, err)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-stopped:
		return failed(errors.New("it stopped"))
	case err := <-p.failed:
		return failed(err)
	}
}

// toSpeaker plays a phone's packet now if the speaker's player runs, or
// keeps it for the player to play when it starts (a reply or the ring
// sound has the speaker, or the player is starting again).
func (a *Audio) toSpeaker(t talkPacket) {
	a.talkMu.Lock()
	p := a.player
	if p == nil {
		select {
		case a.talkIn <- t:
		default: // the speaker is behind: drop rather than delay
		}
	}
	a.talkMu.Unlock()
	if p != nil {
		p.play(t)
	}
}

// listenTo passes a phone's voice to the speaker's player until the track ends.
func (a *Audio) listenTo(tr *webrtc.TrackRemote) {
	var lastSeq uint16
	first := true
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		lost := 0
		if !first {
			lost = int(p.SequenceNumber - lastSeq - 1) // wraps: a late or repeated packet is a huge gap, not a loss
		}
		first, lastSeq = false, p.SequenceNumber
		if len(p.Payload) <= 3 { // DTX, or a muted track's silence: not talk
			continue
		}
		now := time.Now()
		if !a.talkingNow() {
			a.stopSounds() // the member's voice wins over a reply or the ring sound
		}
		a.lastTalk.Store(now.UnixNano())
		a.lastSpeaker.Store(now.UnixNano())
		a.toSpeaker(talkPacket{payload: p.Payload, at: now, lost: lost})
	}
}
