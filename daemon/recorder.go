package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/recorder"
)

// DemoIdentityFile is the demo member's identity in the data directory.
const DemoIdentityFile = "demo-identity.txt"

// membersPoll is how often the member list is re-read: a change is picked
// up within 2 s.
const membersPoll = 500 * time.Millisecond

// startRecorder records a sealed clip for every motion event and ring, from
// the stream's ring, sealed to the household's members (re-read whenever
// the member list changes), and serves the clips to paired members:
//
//	GET /api/clips, GET /api/clips/{id}.mp4.age, GET /api/clips/{id}.event.age
//
// With no members it records nothing, and says so in the log and in
// /healthz ("recording": "disabled: no members").
func (d *Daemon) startRecorder(ctx context.Context) error {
	log := d.Log.With("part", "recorder")
	if d.noRecording() {
		log.Info("recording nothing: privacy profile no-recording")
		d.AddHealth("recording", func() any { return "off: privacy profile no-recording" })
		return nil
	}
	ring := d.ring
	if ring == nil {
		return errors.New("recorder: the stream's ring is missing; startStream must run first")
	}

	key, err := devicekey.LoadOrCreate(d.DataDir)
	if err != nil {
		return err
	}
	store, err := clipstore.Open(d.DataDir)
	if err != nil {
		return err
	}
	rec, err := store.Recover()
	if err != nil {
		return err
	}
	for _, id := range rec.Clips {
		log.Warn("kept a clip whose recording was cut off (it opens up to where it stopped)", "clip", id)
	}
	if len(rec.Removed) > 0 {
		log.Info("removed temporary files left by an unclean stop", "files", len(rec.Removed))
	}
	if d.Demo {
		if err := d.demoMember(); err != nil {
			return err
		}
	}

	watcher, err := members.NewWatcher(d.DataDir, membersPoll)
	if err != nil {
		log.Error("the member list is damaged; recording nothing until it is fixed", "err", err)
	}
	if watcher.Current().Len() == 0 {
		log.Warn("recording is disabled: the household has no members to seal clips to; add one with doorbell member add -data " + d.DataDir + " NAME PUBLIC-KEY")
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
	d.goBackground(func() {
		watcher.Run(ctx, func(err error) {
			log.Error("the member list is damaged; still sealing to the members it held before", "err", err)
		})
	})

	c := d.Cfg.Recorder
	r := recorder.New(recorder.Config{
		PreRoll: seconds(c.PreRoll), PostRoll: seconds(c.PostRoll), MaxLength: seconds(c.MaxLength),
		OnMotion: c.OnMotion, OnRing: c.OnRing, FPS: d.Cfg.Camera.FPS,
		NothingBeforeEvent: d.Cfg.Privacy.Profile == config.ProfileRingOnly,
		SyncInterval:       seconds(c.SyncInterval), ThumbnailWidth: c.ThumbnailWidth,
		Retention: clipstore.Retention{MaxBytes: c.MaxBytes, MaxAge: time.Duration(c.MaxAgeDays * 24 * float64(time.Hour))},
		Recording: func(on bool) { d.led.Set(gpio.Recording, on) },
	}, ring, store, key, watcher.Current, d.Bus.Publish, log)
	if err := r.RegisterMetrics(d.Metrics); err != nil {
		return fmt.Errorf("recorder metrics: %v", err)
	}
	d.AddSink(r)
	evs, unsubscribe := d.Bus.Subscribe(64)
	d.goBackground(func() {
		r.Run(ctx, evs) // seals the clip going on when ctx ends
		unsubscribe()
	})
	if d.Demo {
		sealed, unsub := d.Bus.Subscribe(8)
		go func() {
			defer unsub()
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-sealed:
					if e.Kind == events.ClipSealed {
						fmt.Fprintf(demoOut, "Clip sealed. Open it with:\n  %s clips open -data %s -i %s %s\n",
							householdCLI(), d.DataDir, filepath.Join(d.DataDir, DemoIdentityFile), store.ClipPath(e.Clip))
					}
				}
			}
		}()
	}

	(&clipstore.Handler{
		Store: store, Log: log,
		DeviceKey: devicekey.PublicString(key.Public().(ed25519.PublicKey)),
		Auth:      func() clipstore.Authorizer { return d.tokens() },
	}).Register(d.Mux)
	d.AddHealth("recording", func() any {
		if watcher.Current().Len() == 0 {
			return "disabled: no members"
		}
		return r.Status()
	})
	return nil
}

// householdCLI is how to run the household CLI: bin/doorbell beside
// bin/doorbelld after make build, else the one on PATH.
func householdCLI() string {
	if exe, err := os.Executable(); err == nil {
		cli := filepath.Join(filepath.Dir(exe), "doorbell")
		if fi, err := os.Stat(cli); err == nil && fi.Mode().IsRegular() {
			return cli
		}
	}
	return "doorbell"
}

// demoMember makes the demo member's identity (once per data directory)
// and puts it in the household.
func (d *Daemon) demoMember() error {
	path := filepath.Join(d.DataDir, DemoIdentityFile)
	var recipient string
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		id, err := keys.Generate(keys.Hybrid)
		if err != nil {
			return err
		}
		if err := keys.WriteNew(path, id.File(time.Now())); err != nil {
			return err
		}
		recipient = id.Recipient
	} else {
		ids, err := keys.ReadIdentities(path, nil)
		if err != nil || len(keys.PublicKeys(ids)) == 0 {
			return fmt.Errorf("demo identity: %v; remove %s to make a new one", err, path)
		}
		recipient = keys.PublicKeys(ids)[0]
	}
	reg, err := members.Load(d.DataDir)
	if err != nil {
		return err
	}
	for _, m := range reg.Members() {
		if m.Recipient == recipient {
			return nil
		}
	}
	name := "demo"
	if _, taken := reg.Lookup(name); taken {
		name = fmt.Sprintf("demo-%d", time.Now().Unix())
	}
	if _, err := members.Add(d.DataDir, name, recipient, time.Now()); err != nil {
		return fmt.Errorf("cannot add the demo member: %v", err)
	}
	fmt.Fprintf(demoOut, "Clips:       sealed to the demo member, whose identity is %s;\n             the visitor comes every %g s, and each clip's open command is printed here.\n",
		path, d.Cfg.Camera.Synthetic.VisitorPeriod)
	return nil
}
