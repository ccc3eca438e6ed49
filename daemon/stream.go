package daemon

import (
	"context"

	"github.com/pion/webrtc/v4"

	"doorbell/gpio"
	"doorbell/stream"
)

// startStream wires the encoder, GOP ring, viewer hub and WHEP into the
// daemon: camera frames (masked) → one H.264 encoder → ring → every viewer.
func (d *Daemon) startStream(ctx context.Context) error {
	c, cam := d.Cfg.Stream, d.Cfg.Camera
	ring := stream.NewRing(c.RingBytes)
	d.ring = ring // the recorder's pre-roll (recorder.go)
	enc, err := stream.NewFFmpeg(stream.FFmpegConfig{
		Command: c.FFmpeg, Backend: c.Encoder,
		Width: cam.Width, Height: cam.Height, FPS: cam.FPS,
		BitrateKbps: c.BitrateKbps, KeyframeInterval: seconds(c.KeyframeInterval),
	}, d.liveOnly(ring), d.Log.With("part", "encoder"))
	if err != nil {
		return err
	}
	ice := make([]webrtc.ICEServer, len(c.ICEServers))
	for i, s := range c.ICEServers {
		ice[i] = webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
	}
	audio, err := d.startAudio(ctx) // audio.go
	if err != nil {
		return err
	}
	hub, err := stream.NewHub(ring, stream.HubConfig{
		Audio:      audio,
		MaxViewers: c.MaxViewers, Queue: c.ViewerQueue, ICEServers: ice,
		LoopbackCandidates: c.LoopbackCandidates,
		UDPPortMin:         uint16(c.UDPPortMin), UDPPortMax: uint16(c.UDPPortMax),
		Log:       d.Log.With("part", "stream"),
		OnViewers: func(n int) { d.led.Set(gpio.Watching, n > 0) },
	})
	if err != nil {
		return err
	}
	whep := &stream.WHEP{
		Viewers: d.liveGate(hub), ICEServers: ice, Log: d.Log.With("part", "whep"),
		Auth: d.tokens(),
	}
	// A revoked phone stops watching at once, not at the next recheck.
	d.onRevoke(func(id string) { hub.CloseWhere(func(viewer string) bool { return viewer == id }) })
	whep.Handle(d.Mux)
	enc.RegisterMetrics(d.Metrics)
	hub.RegisterMetrics(d.Metrics)
	whep.RegisterMetrics(d.Metrics)
	d.AddHealth("stream", func() any {
		return streamHealth{Encoder: enc.Status(), Viewers: hub.Status(), Ring: ring.Status()}
	})
	d.AddSink(enc)
	d.goBackground(func() { enc.Run(ctx) })
	d.goBackground(func() {
		<-ctx.Done()
		hub.Close()
	})
	return nil
}

// streamHealth is the "stream" section of /healthz.
type streamHealth struct {
	Encoder stream.EncoderStatus `json:"encoder"`
	Viewers stream.HubStatus     `json:"viewers"`
	Ring    stream.RingStatus    `json:"ring"`
}
