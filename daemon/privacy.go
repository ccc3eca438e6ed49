package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"doorbell/camera"
	"doorbell/config"
	"doorbell/events"
	"doorbell/pairing"
	"doorbell/stream"
)

// errCameraOff is why live view is refused between rings in the no-recording profile.
var errCameraOff = errors.New("the camera is off until someone rings (privacy profile no-recording); live view opens at the next ring")

// privacyPart makes the parts follow the privacy profile (config
// privacy.profile), whatever else the config says: a file that contradicts
// its profile was refused by config already, and New applies the profile
// to a config built in code as well. It serves GET /api/privacy, from
// which the app says when the next look is possible. In the no-recording
// profile it owns the live window: when the camera runs (runCamera), which
// pictures reach the stream (liveOnly), who may watch (liveGate) and who
// is answered at all (lanOnly).
type privacyPart struct {
	profile string
	source  string      // the camera's source, as strangers may see it
	window  *liveWindow // the no-recording profile's live window, else nil
	tokens  *pairing.Store
	bus     *events.Bus
	log     *slog.Logger

	rings       <-chan events.Event // no-recording: the rings that open the window
	unsubscribe func()
}

func newPrivacy(c config.Privacy, cam config.Camera, tokens *pairing.Store, bus *events.Bus, log *slog.Logger) *privacyPart {
	p := &privacyPart{profile: c.Profile, source: cam.Source, tokens: tokens, bus: bus, log: log.With("part", "privacy")}
	if c.Profile == config.ProfileNoRecording {
		p.window = &liveWindow{length: seconds(c.LiveWindow)}
	}
	return p
}

func (p *privacyPart) start(ctx context.Context, h *host) error {
	p.log.Info("privacy profile", "profile", p.profile)
	h.AddHealth("privacy", func() any { return p.status() })
	h.mux.Handle("GET /api/privacy", insidersOnly(p.tokens, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(p.status())
	})))
	if p.window != nil {
		// Subscribed now, before the server listens: no ring is missed.
		// runCamera unsubscribes when it ends.
		p.rings, p.unsubscribe = p.bus.Subscribe("privacy", 16)
	}
	return nil
}

// noRecording reports whether the no-recording profile is on.
func (p *privacyPart) noRecording() bool { return p.window != nil }

// privacyStatus is the "privacy" section of /healthz and the body of
// GET /api/privacy, from which the app says when the next look is possible.
type privacyStatus struct {
	Profile   string     `json:"profile"`
	Recording bool       `json:"recording"`            // whether anything can be recorded at all
	Live      bool       `json:"live"`                 // whether live view is available now
	LiveUntil *time.Time `json:"live_until,omitempty"` // no-recording: when the camera switches off
	NextLook  string     `json:"next_look,omitempty"`  // no-recording, while off: what allows a look
}

func (p *privacyPart) status() privacyStatus {
	st := privacyStatus{Profile: p.profile, Recording: true, Live: true}
	if w := p.window; w != nil {
		st.Recording = false
		until, on := w.state()
		st.Live = on
		if on {
			st.LiveUntil = &until
		} else {
			st.NextLook = fmt.Sprintf("the next ring: the camera then runs for %g s", w.length.Seconds())
		}
	}
	return st
}

// liveWindow is the no-recording profile's switch: the camera, and with it
// live view, runs only from a ring until length after the last ring.
type liveWindow struct {
	length time.Duration

	mu      sync.Mutex
	opened  time.Time // when the window going on opened; zero while off
	until   time.Time
	onClose []func()
}

func (w *liveWindow) state() (until time.Time, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.until, !w.opened.IsZero()
}

// openedAt returns when the window going on opened, or false while off.
func (w *liveWindow) openedAt() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opened, !w.opened.IsZero()
}

func (w *liveWindow) open(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.opened.IsZero() {
		w.opened = now
	}
	w.until = now.Add(w.length)
}

func (w *liveWindow) close() {
	w.mu.Lock()
	w.opened, w.until = time.Time{}, time.Time{}
	fs := w.onClose
	w.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// whenClosed adds f to what runs each time the window closes.
func (w *liveWindow) whenClosed(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onClose = append(w.onClose, f)
}

// runCamera runs the camera until ctx ends; in the no-recording profile
// only from each ring until the live window after the last ring is over.
func (p *privacyPart) runCamera(ctx context.Context, cam *camera.Supervisor) {
	w := p.window
	if w == nil {
		cam.Run(ctx)
		return
	}
	rings := p.rings
	defer p.unsubscribe()
	isRing := func(e events.Event) bool { return e.Kind == events.Ring }
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-rings:
			if !isRing(e) {
				continue
			}
		}
		w.open(time.Now()) // before the camera starts: every frame it gives is newer
		p.log.Info("camera on after a ring", "for_s", w.length.Seconds())
		on, off := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			cam.Run(on)
		}()
		timer := time.NewTimer(w.length)
	window:
		for {
			select {
			case <-ctx.Done():
				break window
			case <-timer.C:
				break window
			case e := <-rings:
				if isRing(e) { // another ring: the window runs on from it
					w.open(time.Now())
					timer.Reset(w.length)
				}
			}
		}
		timer.Stop()
		off()
		<-stopped
		w.close()
		p.log.Info("camera off until the next ring (privacy profile no-recording)")
	}
}

// liveOnly passes on to ring only the access units of frames captured in
// the window going on: the encoder holds back a frame or two, and those
// of the last window must not reach the next one's viewers. When the window
// closes the ring is cleared, so a new viewer never sees an old picture.
func (p *privacyPart) liveOnly(ring *stream.Ring) stream.AccessUnitSink {
	w := p.window
	if w == nil {
		return ring
	}
	w.whenClosed(ring.Clear)
	return accessUnitFunc(func(au *stream.AccessUnit) {
		if opened, on := w.openedAt(); on && !au.Captured.Before(opened) {
			ring.WriteAccessUnit(au)
		}
	})
}

type accessUnitFunc func(*stream.AccessUnit)

func (f accessUnitFunc) WriteAccessUnit(au *stream.AccessUnit) { f(au) }

// liveGate refuses live view outside the window and ends every session when
// it closes.
func (p *privacyPart) liveGate(hub *stream.Hub) stream.Viewers {
	w := p.window
	if w == nil {
		return hub
	}
	w.whenClosed(func() { hub.CloseWhere(func(string) bool { return true }) })
	return gatedViewers{hub, w}
}

type gatedViewers struct {
	stream.Viewers
	w *liveWindow
}

func (g gatedViewers) Open(ctx context.Context, offer, viewer string, still func() bool) (string, string, error) {
	if _, on := g.w.openedAt(); !on {
		return "", "", fmt.Errorf("%w (%w)", errCameraOff, stream.ErrHubClosed)
	}
	return g.Viewers.Open(ctx, offer, viewer, func() bool {
		_, on := g.w.openedAt()
		return on && (still == nil || still())
	})
}

// lanOnly answers only this machine and the home network in the
// no-recording profile: nothing is served over the internet, even through
// a port forwarded by mistake.
func (p *privacyPart) lanOnly(h http.Handler) http.Handler {
	if !p.noRecording() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromHomeNetwork(r) {
			http.Error(w, "this doorbell answers only its home network (privacy profile no-recording: nothing is streamed over the internet); connect to the home network, or choose another privacy.profile", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromHomeNetwork reports whether r came from this machine, a private
// (RFC 1918, RFC 4193) or a link-local address.
func fromHomeNetwork(r *http.Request) bool {
	ip := remoteIP(r)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast())
}

// publicCamera is the camera's state as strangers on the network see it.
// In the no-recording profile the camera runs only after a ring, so its
// state would tell them that someone rang: they are told only the profile.
func (p *privacyPart) publicCamera(cam *camera.Supervisor) any {
	if p.noRecording() {
		return map[string]string{"state": "on only after a ring (privacy profile no-recording)", "source": p.source}
	}
	return cam.Status()
}
