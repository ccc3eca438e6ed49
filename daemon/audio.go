package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"doorbell/config"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/bearer"
	"doorbell/pairing"
	"doorbell/recorder"
	"doorbell/replies"
	"doorbell/stream"
)

// audioPart is the doorbell's microphone and speaker in live view, the
// quick replies and the ring sound. With no sound device configured it
// has no audio (then nothing captures sound and the stream has no audio
// track). The demo has a synthetic microphone, a steady 1 kHz tone, and a
// speaker that discards what it plays.
//
// The microphone may be live only within audio.listen_window of a ring or
// of a member's POST /api/listen, and only while a member listens, or
// while a clip records it (audio.record_in_clips); the status LED
// double-blinks while it is.
type audioPart struct {
	audio   *stream.Audio // nil: no sound device; the stream's hub takes it
	cfg     config.Audio
	dataDir string
	tokens  *pairing.Store
	bus     *events.Bus
	log     *slog.Logger
}

// newAudio prepares the configured sound devices (or the demo's, if demo
// and none is configured); the LED shows when the microphone is live.
func newAudio(c config.Audio, demo bool, dataDir string, tokens *pairing.Store, led *gpio.LED, bus *events.Bus, log *slog.Logger) (*audioPart, error) {
	p := &audioPart{cfg: c, dataDir: dataDir, tokens: tokens, bus: bus, log: log.With("part", "audio")}
	cfg := stream.AudioConfig{FFmpeg: c.FFmpeg, Capture: c.Capture, Playback: c.Playback, Volume: c.Volume, Log: p.log}
	if demo && c.Capture == "" && c.Playback == "" {
		cfg.Capture, cfg.Playback, cfg.Card = "demo tone", "demo speaker", stream.DemoCard{Hz: 1000}
	}
	if cfg.Capture == "" && cfg.Playback == "" {
		return p, nil
	}
	a, err := stream.NewAudio(cfg)
	if err != nil {
		return nil, err
	}
	a.OnLive(func(on bool) { led.Set(gpio.Listening, on) })
	p.audio = a
	return p, nil
}

// forClips is the microphone for the recorder if the owner turned on
// audio.record_in_clips (the privacy profile may have turned it off
// again), or nil: then clips have no sound and never open the microphone.
func (p *audioPart) forClips() recorder.Microphone {
	if !p.cfg.RecordInClips || p.audio == nil || !p.audio.HasMic() {
		return nil
	}
	p.log.Warn("clips record the microphone (audio.record_in_clips): voices at the door are kept with the video; see the README on what the law says")
	return p.audio
}

func (p *audioPart) start(ctx context.Context, h *host) error {
	a := p.audio
	if a == nil {
		h.AddHealth("audio", func() any { return stream.AudioStatus{Mic: "none", Speaker: "none"} })
		return nil
	}
	h.AddHealth("audio", func() any { return a.Status() })

	window := seconds(p.cfg.ListenWindow)
	listen := make(chan struct{}, 1)
	h.mux.HandleFunc("POST /api/listen", func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer.Token(r)
		if _, paired := p.tokens.Authorize(token); !ok || !paired {
			w.Header().Set("WWW-Authenticate", bearer.Challenge)
			http.Error(w, "listening needs a paired device's token (Authorization: Bearer TOKEN); pair this phone with doorbell member pair", http.StatusUnauthorized)
			return
		}
		select {
		case listen <- struct{}{}:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"listen_s": window.Seconds()})
	})
	if a.HasSpeaker() {
		if err := p.startReplies(ctx, h, a); err != nil {
			return err
		}
	}
	rings, unsubscribe := p.bus.Subscribe("audio", 16)
	h.goBackground(func() {
		defer unsubscribe()
		defer a.Close()
		timer := time.NewTimer(0)
		<-timer.C
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-rings:
				if e.Kind != events.Ring {
					continue
				}
				if p.cfg.RingSound && !e.Repeat {
					go func() {
						if err := a.Play(ctx, stream.RingSound, p.cfg.RingVolume); err != nil {
							p.log.Warn("the ring sound did not play", "err", err)
						}
					}()
				}
			case <-listen:
			case <-timer.C:
				a.Allow(false)
				continue
			}
			a.Allow(true)
			timer.Reset(window)
		}
	})
	return nil
}

// startReplies serves the quick replies (replies package): built-in ones
// made once with espeak-ng in the background, and the owner's recordings,
// each played on the speaker with one tap.
func (p *audioPart) startReplies(ctx context.Context, h *host, a *stream.Audio) error {
	store, err := replies.Open(p.dataDir, p.cfg.FFmpeg, "")
	if err != nil {
		return err
	}
	h.goBackground(func() {
		if err := store.MakeBuiltins(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("the built-in quick replies are missing; the owner's own still work", "err", err)
		}
	})
	(&replies.Handler{
		Store: store, Log: p.log.With("part", "replies"),
		Authorized: func(token string) bool { _, ok := p.tokens.Authorize(token); return ok },
		Play: func(path string) error {
			go func() {
				if err := a.Play(ctx, []string{"-i", path}, 0); err != nil {
					p.log.Warn("a quick reply did not play", "err", err)
				}
			}()
			return nil
		},
	}).Register(h.mux)
	return nil
}
