package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"image"
	"image/jpeg"
	"log/slog"
	"slices"
	"sync"
	"time"

	"doorbell/camera"
	"doorbell/config"
	"doorbell/events"
	"doorbell/pairing"
	"doorbell/push"
)

// pushRoots verify the push services' certificates; nil: the system's.
// Tests point it at their push-service emulator.
var pushRoots *x509.CertPool

// pushPart serves /api/push and, when [push] enabled = true, sends rings
// (and, to phones that asked, motion) to the subscribed phones. Revoking a
// device deletes its subscription at once.
type pushPart struct {
	cfg     config.Push
	noSnap  bool // the no-recording privacy profile: no pictures in notifications
	dataDir string
	tokens  *pairing.Store
	bus     *events.Bus
	log     *slog.Logger
}

// newPush sends no pictures in the no-recording privacy profile (profile).
func newPush(c config.Push, profile string, dataDir string, tokens *pairing.Store, bus *events.Bus, log *slog.Logger) *pushPart {
	return &pushPart{cfg: c, noSnap: profile == config.ProfileNoRecording, dataDir: dataDir, tokens: tokens, bus: bus, log: log.With("part", "push")}
}

func (p *pushPart) start(ctx context.Context, h *host) error {
	store, log := p.tokens, p.log
	if !p.cfg.Enabled {
		h.AddHealth("push", func() any { return push.Status{State: "off"} })
		h.mux.Handle("/api/push", &push.Handler{Auth: store})
		return nil
	}
	key, err := push.LoadOrCreateKey(p.dataDir)
	if err != nil {
		return err
	}
	subs, err := push.OpenStore(p.dataDir)
	if err != nil {
		return err
	}
	paired := func(device string) bool {
		if store.Err() != nil {
			return true // a damaged token file refuses everyone; it must not wipe the subscriptions
		}
		return slices.ContainsFunc(store.Tokens(), func(t pairing.Token) bool { return t.ID == device })
	}
	// Devices revoked while the daemon was stopped.
	if n, err := subs.Keep(paired); err != nil {
		return err
	} else if n > 0 {
		log.Info("deleted the push subscriptions of revoked devices", "count", n)
	}
	store.OnRevoke(func(t pairing.Token) {
		if ok, err := subs.RemoveDevice(t.ID); err != nil {
			log.Error("cannot delete a revoked device's push subscription", "device", t.ID, "err", err)
		} else if ok {
			log.Info("push subscription deleted with its device", "device", t.ID)
		}
	})
	sender := push.NewSender(key, subs, push.Options{
		Contact: p.cfg.Contact, AllowHosts: p.cfg.AllowHosts, RootCAs: pushRoots, Log: log, Paired: paired})
	h.mux.Handle("/api/push", &push.Handler{Auth: store, Store: subs, Sender: sender, Log: log})
	h.AddHealth("push", func() any { return sender.Status() })

	snap := &snapshotter{wanted: func() bool {
		return slices.ContainsFunc(subs.All(), func(s push.Subscription) bool { return s.Snapshot })
	}}
	pictures := snap.jpeg
	if p.noSnap {
		pictures = nil // no frame is kept, and none leaves the house
	} else {
		h.AddSink(snap)
	}

	ch, unsubscribe := p.bus.Subscribe("push", 64)
	h.goBackground(func() {
		<-ctx.Done()
		unsubscribe()
	})
	h.goBackground(func() {
		for e := range ch {
			if e.Kind == events.Ring || e.Kind == events.MotionStart {
				sender.Notify(ctx, e, pictures)
			}
		}
	})
	log.Info("push notifications on", "subscriptions", len(subs.All()))
	return nil
}

// snapshotter keeps a small copy of a recent (masked) frame in memory, and
// only while some phone asked for pictures in its notifications.
type snapshotter struct {
	wanted func() bool

	mu      sync.Mutex
	checked time.Time
	want    bool
	taken   time.Time
	img     *image.YCbCr
}

// snapshotWidth is the picture's width; small enough that its JPEG fits
// the fixed-size payload.
const snapshotWidth = 160

func (s *snapshotter) WriteFrame(f *camera.Frame) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.checked) > time.Second {
		s.checked, s.want = now, s.wanted()
		if !s.want {
			s.img = nil
		}
	}
	if !s.want || now.Sub(s.taken) < 250*time.Millisecond {
		return
	}
	s.taken, s.img = now, scaleFrame(f, snapshotWidth)
}

// jpeg encodes the latest copy as a JPEG of at most push.MaxSnapshot
// bytes, lowering the quality until it fits; nil if there is none.
func (s *snapshotter) jpeg() []byte {
	s.mu.Lock()
	img := s.img
	s.mu.Unlock()
	if img == nil {
		return nil
	}
	for _, q := range []int{70, 50, 35, 20, 10} {
		var buf bytes.Buffer
		if jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}) == nil && buf.Len() <= push.MaxSnapshot {
			return buf.Bytes()
		}
	}
	return nil
}

// scaleFrame copies f at width w (nearest neighbour), luma stretched from
// video range to the full range JPEG expects.
func scaleFrame(f *camera.Frame, w int) *image.YCbCr {
	w = min(w, f.Width) &^ 1
	h := max(2, (f.Height*w/f.Width)&^1)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	fy, fu, fv := f.Y(), f.U(), f.V()
	for y := range h {
		row := fy[(y*f.Height/h)*f.Width:]
		for x := range w {
			v := (int(row[x*f.Width/w]) - 16) * 255 / 219
			img.Y[y*img.YStride+x] = byte(min(max(v, 0), 255))
		}
	}
	cw, ch := f.Width/2, f.Height/2
	for y := range h / 2 {
		for x := range w / 2 {
			i := (y*ch/(h/2))*cw + x*cw/(w/2)
			img.Cb[y*img.CStride+x], img.Cr[y*img.CStride+x] = fu[i], fv[i]
		}
	}
	return img
}
