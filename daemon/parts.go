package daemon

import (
	"context"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/camera"
	"doorbell/devicekey"
	"doorbell/gpio"
	"doorbell/pairing"
	"doorbell/tlscert"
)

// A part is one piece of the running doorbell: the token store, GPIO, the
// stream, motion, MQTT, the recorder. Its constructor (newPairing,
// newStream, …) takes what it needs, its own config section, the parts it
// depends on, the bus and a logger, and does everything that can fail
// before anything runs. start then attaches it to the host and starts its
// goroutines, which end when ctx does.
//
// To add a part: write daemon/NAME.go with a type that has start, and a
// constructor taking what it needs; call the constructor in build, after
// the parts whose results it takes, and append the part to all. Whatever
// later parts need from it (like the stream's ring) is a field of the
// part, so that a part built too early does not compile.
type part interface {
	start(ctx context.Context, h *host) error
}

// A listener is a part that wants to know where the HTTPS server listens,
// once it does.
type listener interface {
	listening(addr string)
}

// parts are the daemon's parts, built in the order they depend on each other.
type parts struct {
	all    []part
	tokens *pairing.Store // who may watch: the HTTP API's Authorizer
	led    *gpio.LED
	demo   *demoPart // nil unless Options.Demo
	priv   *privacyPart
	tls    *tlscert.Server
}

// build makes every part from the config, or says what stops the start.
// tls serves the HTTPS certificate; spki is its public key.
func (d *Daemon) build(tls *tlscert.Server, spki []byte) (parts, error) {
	c := d.cfg
	key, err := devicekey.LoadOrCreate(d.dataDir) // made on first start; signs clips, pinned at pairing
	if err != nil {
		return parts{}, err
	}
	var demo *demoPart
	if d.demo != nil {
		if demo, err = newDemo(d.demo, c.GPIO, c.Camera.Synthetic.VisitorPeriod, d.dataDir, d.bus, d.log); err != nil {
			return parts{}, err
		}
	}
	pair := newPairing(d.dataDir, key, spki, d.bus, d.log)
	bell, err := newGPIO(c.GPIO, demo.pins(), d.bus, d.log)
	if err != nil {
		return parts{}, err
	}
	snd, err := newAudio(c.Audio, d.demo != nil, d.dataDir, pair.store, bell.led, d.bus, d.log)
	if err != nil {
		return parts{}, err
	}
	priv := newPrivacy(c.Privacy, c.Camera, pair.store, d.bus, d.log)
	strm, err := newStream(c.Stream, c.Camera, pair.store, bell.led, snd.audio, priv, d.log)
	if err != nil {
		return parts{}, err
	}
	mot, err := newMotion(c.Motion, c.PrivacyMask, c.Camera, c.File, d.bus, d.log)
	if err != nil {
		return parts{}, err
	}
	mq, err := newMQTT(c.MQTT, c.Device.Name, c.File, d.bus, d.log)
	if err != nil {
		return parts{}, err
	}
	clips, err := openClips(d.dataDir, d.log)
	if err != nil {
		return parts{}, err
	}
	rep := newReplica(c.Replica, d.dataDir, clips, d.log)
	rec, err := newRecorder(c.Recorder, c.Privacy.Profile, c.Camera.FPS, d.dataDir, strm.ring, clips, rep.target(), snd.forClips(), pair.store, key, d.bus, bell.led, d.log)
	if err != nil {
		return parts{}, err
	}
	trust := newTrust(tls, pair.store, c.Device.Name, d.log)
	acm, err := newACME(c.HTTP.ACME, c.File, d.dataDir, tls, d.log)
	if err != nil {
		return parts{}, err
	}
	psh := newPush(c.Push, c.Privacy.Profile, d.dataDir, pair.store, d.bus, d.log)
	all := []part{pair, bell, snd, priv, strm, mot, mq, rep, rec, trust, acm, psh}
	if demo != nil {
		demo.trust = tls
		all = append(all, demo.withClips(rec.clips))
	}
	return parts{all: all, tokens: pair.store, led: bell.led, demo: demo, priv: priv, tls: tls}, nil
}

// host is what the parts attach to: the HTTP routes, the metrics, the
// sections of /healthz, the masked frames and the goroutines that Run
// waits for before it returns.
type host struct {
	mux     *http.ServeMux
	metrics *prometheus.Registry

	mu     sync.Mutex
	sinks  []camera.Sink
	health []healthSection

	// background is every goroutine that must finish before Run returns:
	// the recorder sealing its clip, the encoder, the watchers.
	background sync.WaitGroup
}

type healthSection struct {
	name string
	f    func() any
}

// AddSink makes s receive every frame after the privacy masks are applied.
func (h *host) AddSink(s camera.Sink) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sinks = append(h.sinks, s)
}

// AddHealth adds a section to /healthz, computed by f at each request.
func (h *host) AddHealth(name string, f func() any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.health = append(h.health, healthSection{name, f})
}

func (h *host) frameSinks() []camera.Sink {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sinks
}

func (h *host) healthSections() []healthSection {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.health
}

// goBackground runs f on a goroutine that Run waits for before it returns.
func (h *host) goBackground(f func()) {
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		f()
	}()
}
