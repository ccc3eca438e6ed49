package daemon

import (
	"context"
	"log/slog"

	"github.com/pion/webrtc/v4"

	"doorbell/config"
	"doorbell/gpio"
	"doorbell/pairing"
	"doorbell/stream"
)

// streamPart is live view: camera frames (masked) → one H.264 encoder →
// ring → every viewer over WHEP.
type streamPart struct {
	ring *stream.Ring // recent encoded pictures: live view, and the recorder's pre-roll
	enc  *stream.FFmpeg
	hub  *stream.Hub
	whep *stream.WHEP
}

// newStream builds the encoder, ring, hub and WHEP handlers. Viewers need a
// token of tokens; a revoked device stops watching at once. The LED shows
// when someone watches. audio (nil: none) adds the doorbell's microphone
// and speaker to sessions that offer audio; priv decides which pictures
// reach the ring and when live view is open (the no-recording profile).
func newStream(c config.Stream, cam config.Camera, tokens *pairing.Store, led *gpio.LED, audio *stream.Audio, priv *privacyPart, log *slog.Logger) (*streamPart, error) {
	ring := stream.NewRing(c.RingBytes)
	enc, err := stream.NewFFmpeg(stream.FFmpegConfig{
		Command: c.FFmpeg, X264: c.X264Encoder, Backend: c.Encoder,
		Width: cam.Width, Height: cam.Height, FPS: cam.FPS,
		BitrateKbps: c.BitrateKbps, KeyframeInterval: seconds(c.KeyframeInterval),
	}, priv.liveOnly(ring), log.With("part", "encoder"))
	if err != nil {
		return nil, err
	}
	ice := make([]webrtc.ICEServer, len(c.ICEServers))
	for i, s := range c.ICEServers {
		ice[i] = webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
	}
	hub, err := stream.NewHub(ring, stream.HubConfig{
		Audio:      audio,
		MaxViewers: c.MaxViewers, Queue: c.ViewerQueue, ICEServers: ice,
		LoopbackCandidates: c.LoopbackCandidates,
		UDPPortMin:         uint16(c.UDPPortMin), UDPPortMax: uint16(c.UDPPortMax),
		Log:       log.With("part", "stream"),
		OnViewers: func(n int) { led.Set(gpio.Watching, n > 0) },
	})
	if err != nil {
		return nil, err
	}
	whep := &stream.WHEP{
		Viewers: priv.liveGate(hub), ICEServers: ice, Log: log.With("part", "whep"),
		Auth: tokens,
	}
	// A revoked phone stops watching at once, not at the next recheck.
	tokens.OnRevoke(func(t pairing.Token) { hub.CloseWhere(func(viewer string) bool { return viewer == t.ID }) })
	return &streamPart{ring: ring, enc: enc, hub: hub, whep: whep}, nil
}

func (p *streamPart) start(ctx context.Context, h *host) error {
	p.whep.Handle(h.mux)
	p.enc.RegisterMetrics(h.metrics)
	p.hub.RegisterMetrics(h.metrics)
	p.whep.RegisterMetrics(h.metrics)
	h.AddHealth("stream", func() any {
		return streamHealth{Encoder: p.enc.Status(), Viewers: p.hub.Status(), Ring: p.ring.Status()}
	})
	h.AddSink(p.enc)
	h.goBackground(func() { p.enc.Run(ctx) })
	h.goBackground(func() {
		<-ctx.Done()
		p.hub.Close()
	})
	return nil
}

// streamHealth is the "stream" section of /healthz.
type streamHealth struct {
	Encoder stream.EncoderStatus `json:"encoder"`
	Viewers stream.HubStatus     `json:"viewers"`
	Ring    stream.RingStatus    `json:"ring"`
}
