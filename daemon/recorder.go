package daemon

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"time"

	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/pairing"
	"doorbell/recorder"
	"doorbell/stream"
)

// membersPoll is how often the member list is re-read: a change is picked
// up within 2 s.
const membersPoll = 500 * time.Millisecond

// recorderPart records a sealed clip for every motion event and ring,
// from the stream's ring, sealed to the household's members (re-read
// whenever the member list changes), and serves the clips to paired members:
//
//	GET /api/clips, GET /api/clips/{id}.mp4.age, GET /api/clips/{id}.event.age
//
// With no members it records nothing, and says so in the log and in
// /healthz ("recording": "disabled: no members").
type recorderPart struct {
	off       bool // the no-recording privacy profile: nothing is recorded
	clips     *clipstore.Store
	rec       *recorder.Recorder
	watcher   *members.Watcher
	tokens    *pairing.Store
	deviceKey string
	bus       *events.Bus
	log       *slog.Logger
}

// openClips opens the clips directory, keeping what an unclean stop cut off.
func openClips(dataDir string, log *slog.Logger) (*clipstore.Store, error) {
	store, err := clipstore.Open(dataDir)
	if err != nil {
		return nil, err
	}
	rec, err := store.Recover()
	if err != nil {
		return nil, err
	}
	for _, id := range rec.Clips {
		log.Warn("kept a clip whose recording was cut off (it opens up to where it stopped)", "clip", id, "part", "recorder")
	}
	if len(rec.Removed) > 0 {
		log.Info("removed temporary files left by an unclean stop", "files", len(rec.Removed), "part", "recorder")
	}
	return store, nil
}

// newRecorder opens the member list. Clips come from ring, go to store and
// to the replica (nil: none) as they are sealed, with the microphone's
// sound if mic is not nil, are signed with key and
// are served to the devices of tokens; the LED shows a clip recording.
// The privacy profile may forbid recording (no-recording) or anything from
// before the event (ring-only).
func newRecorder(c config.Recorder, profile string, fps float64, dataDir string, ring *stream.Ring, store *clipstore.Store, replica recorder.Replica,
	mic recorder.Microphone, tokens *pairing.Store, key ed25519.PrivateKey, bus *events.Bus, led *gpio.LED, log *slog.Logger) (*recorderPart, error) {
	log = log.With("part", "recorder")
	if profile == config.ProfileNoRecording {
		log.Info("recording nothing: privacy profile no-recording")
		return &recorderPart{off: true, clips: store, tokens: tokens,
			deviceKey: devicekey.PublicString(key.Public().(ed25519.PublicKey)), bus: bus, log: log}, nil
	}

	watcher, err := members.NewWatcher(dataDir, membersPoll)
	if err != nil {
		log.Error("the member list is damaged; recording nothing until it is fixed", "err", err)
	}
	if watcher.Current().Len() == 0 {
		log.Warn("recording is disabled: the household has no members to seal clips to; add one with doorbell member add -data " + dataDir + " NAME PUBLIC-KEY")
	} else {
		log.Info("household", "members", watcher.Current().Len(), "keys", watcher.Current().Kind().String())
	}
	watcher.OnChange(func(reg *members.Registry) {
		if reg.Len() == 0 {
			log.Warn("recording is disabled: the household has no members now")
		} else {
			log.Info("household changed; new clips are sealed to these members", "members", reg.Len(), "names", reg.Names())
		}
	})

	r := recorder.New(recorder.Config{
		PreRoll: seconds(c.PreRoll), PostRoll: seconds(c.PostRoll), MaxLength: seconds(c.MaxLength),
		OnMotion: c.OnMotion, OnRing: c.OnRing, FPS: fps,
		NothingBeforeEvent: profile == config.ProfileRingOnly,
		SyncInterval:       seconds(c.SyncInterval), ThumbnailWidth: c.ThumbnailWidth,
		Retention:  clipstore.Retention{MaxBytes: c.MaxBytes, MaxAge: time.Duration(c.MaxAgeDays * 24 * float64(time.Hour))},
		Recording:  func(on bool) { led.Set(gpio.Recording, on) },
		Lost:       func() uint64 { return bus.Dropped(recorderSubscriber) },
		Replica:    replica,
		Microphone: mic,
	}, ring, store, key, sealTo(watcher, tokens), bus.Publish, log)
	return &recorderPart{
		clips: store, rec: r, watcher: watcher, tokens: tokens,
		deviceKey: devicekey.PublicString(key.Public().(ed25519.PublicKey)),
		bus:       bus, log: log,
	}, nil
}

func (p *recorderPart) start(ctx context.Context, h *host) error {
	if p.off {
		// Clips kept from another profile stay the members' (ciphertext only).
		(&clipstore.Handler{Store: p.clips, Log: p.log, DeviceKey: p.deviceKey, Auth: p.tokens}).Register(h.mux)
		h.AddHealth("recording", func() any { return "off: privacy profile no-recording" })
		return nil
	}
	r, watcher := p.rec, p.watcher
	if err := r.RegisterMetrics(h.metrics); err != nil {
		return fmt.Errorf("recorder metrics: %w", err)
	}
	h.goBackground(func() {
		watcher.Run(ctx, func(err error) {
			p.log.Error("the member list is damaged; still sealing to the members it held before", "err", err)
		})
	})
	h.AddSink(r)
	evs, unsubscribe := p.bus.Subscribe(recorderSubscriber, 64)
	h.goBackground(func() {
		r.Run(ctx, evs) // seals the clip going on when ctx ends
		unsubscribe()
	})
	(&clipstore.Handler{Store: p.clips, Log: p.log, DeviceKey: p.deviceKey, Auth: p.tokens, Since: p.tokens.KeysSince}).Register(h.mux)
	h.AddHealth("recording", func() any {
		if watcher.Current().Len() == 0 {
			return "disabled: no members"
		}
		return r.Status()
	})
	return nil
}

// sealTo is who a clip starting now is sealed to: the members, and the
// phones they paired with a key of their own (a revoked phone's key goes
// with its token).
func sealTo(watcher *members.Watcher, tokens *pairing.Store) func() *members.Registry {
	return func() *members.Registry {
		if tokens == nil {
			return watcher.Current()
		}
		return watcher.Current().WithDeviceKeys(tokens.DeviceRecipients())
	}
}
