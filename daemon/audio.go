package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/bearer"
	"doorbell/replies"
	"doorbell/stream"
)

// startAudio prepares the doorbell's microphone and speaker for live view,
// or returns nil when none is configured (then nothing captures sound and
// the stream has no audio track). The demo has a synthetic microphone, a
// steady 1 kHz tone, and a speaker that discards what it plays.
//
// The microphone may be live only within audio.listen_window of a ring or
// of a member's POST /api/listen, and only while a member listens; the
// status LED double-blinks while it is.
func (d *Daemon) startAudio(ctx context.Context) (*stream.Audio, error) {
	c := d.Cfg.Audio
	cfg := stream.AudioConfig{FFmpeg: c.FFmpeg, Capture: c.Capture, Playback: c.Playback, Volume: c.Volume,
		Log: d.Log.With("part", "audio")}
	if d.Demo && c.Capture == "" && c.Playback == "" {
		cfg.Capture, cfg.CaptureArgs = "demo tone", []string{"-re", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"}
		cfg.Playback, cfg.PlaybackArgs = "demo speaker", []string{"-f", "null", "-"}
	}
	if cfg.Capture == "" && cfg.Playback == "" {
		d.AddHealth("audio", func() any { return stream.AudioStatus{Mic: "none", Speaker: "none"} })
		return nil, nil
	}
	a, err := stream.NewAudio(cfg)
	if err != nil {
		return nil, err
	}
	a.OnLive(func(on bool) { d.led.Set(gpio.Listening, on) })
	d.AddHealth("audio", func() any { return a.Status() })

	window := seconds(c.ListenWindow)
	listen := make(chan struct{}, 1)
	d.Mux.HandleFunc("POST /api/listen", func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer.Token(r)
		if _, paired := d.tokens().Authorize(token); !ok || !paired {
			w.Header().Set("WWW-Authenticate", `Bearer realm="doorbell"`)
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
		if err := d.startReplies(ctx, a); err != nil {
			return nil, err
		}
	}
	rings, unsubscribe := d.Bus.Subscribe(16)
	d.goBackground(func() {
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
				if c.RingSound && !e.Repeat {
					go func() {
						if err := a.Play(ctx, stream.RingSound, c.RingVolume); err != nil {
							d.Log.Warn("the ring sound did not play", "err", err)
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
	return a, nil
}

// startReplies serves the quick replies (replies package): built-in ones
// made once with espeak-ng in the background, and the owner's recordings,
// each played on the speaker with one tap.
func (d *Daemon) startReplies(ctx context.Context, a *stream.Audio) error {
	store, err := replies.Open(d.DataDir, d.Cfg.Audio.FFmpeg, "")
	if err != nil {
		return err
	}
	d.goBackground(func() {
		if err := store.MakeBuiltins(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("the built-in quick replies are missing; the owner's own still work", "err", err)
		}
	})
	(&replies.Handler{
		Store: store, Log: d.Log.With("part", "replies"),
		Authorized: func(token string) bool { _, ok := d.tokens().Authorize(token); return ok },
		Play: func(path string) error {
			go func() {
				if err := a.Play(ctx, []string{"-i", path}, 0); err != nil {
					d.Log.Warn("a quick reply did not play", "err", err)
				}
			}()
			return nil
		},
	}).Register(d.Mux)
	return nil
}
