package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/pairing"
	"doorbell/pairing/linkaddr"
	"doorbell/pairing/pairhttp"
	"doorbell/web"
	"doorbell/wire"
)

// pairingPart is who may watch: the token store of the paired devices, and
//
//	POST /api/pair    one-time code → token (pairhttp.Handler)
//	GET  /api/events  Server-Sent Events for paired phones (web.Events)
//	GET  /, /pair, /assets/…  the phone page (web)
//
// It records the listening address for the CLI's links.
type pairingPart struct {
	dataDir   string
	store     *pairing.Store // the Authorizer of live view, the clips API and the event stream
	deviceKey string         // the signing key, ed25519:BASE64
	deviceID  string         // wire.DeviceID: what pairing links name
	bus       *events.Bus
	log       *slog.Logger
}

// newPairing opens the token store of dataDir. key is the signing key and
// spki the HTTPS certificate's public key: the device ID is made of both.
func newPairing(dataDir string, key ed25519.PrivateKey, spki []byte, bus *events.Bus, log *slog.Logger) *pairingPart {
	log = log.With("part", "pairing")
	pub := key.Public().(ed25519.PublicKey)
	return &pairingPart{
		dataDir:   dataDir,
		store:     pairing.Open(dataDir, log), // a damaged token file is logged, and refuses everyone
		deviceKey: devicekey.PublicString(pub),
		deviceID:  wire.DeviceID(spki, pub),
		bus:       bus,
		log:       log,
	}
}

func (p *pairingPart) start(ctx context.Context, h *host) error {
	store := p.store
	h.goBackground(func() { store.Watch(ctx) })

	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "doorbell_pairing_attempts_total", Help: "POST /api/pair requests, by result."}, []string{"result"})
	for _, r := range []string{pairhttp.ResultPaired, pairhttp.ResultUnknown, pairhttp.ResultExpired, pairhttp.ResultUsed,
		pairhttp.ResultNotMember, pairhttp.ResultLimited, pairhttp.ResultBadRequest, pairhttp.ResultError} {
		attempts.WithLabelValues(r)
	}
	evs := &web.Events{Auth: store, Subscribe: func(buf int) (<-chan events.Event, func()) {
		return p.bus.Subscribe("event_stream", buf)
	}}
	if err := registerAll(h.metrics, "pairing", attempts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_paired_devices", Help: "Devices paired with a valid token."},
			func() float64 { return float64(len(store.Tokens())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_event_streams", Help: "Open /api/events streams."},
			func() float64 { return float64(evs.Open()) })); err != nil {
		return err
	}

	h.mux.Handle("POST /api/pair", &pairhttp.Handler{
		Store: store, Log: p.log, DeviceKey: p.deviceKey,
		OnResult: func(r string) { attempts.WithLabelValues(r).Inc() },
	})
	// A revoked device's event streams end at once; and each event is sent
	// only after its token is checked again (web.Events).
	store.OnRevoke(func(t pairing.Token) { evs.End(t.ID) })
	h.mux.Handle("GET /api/events", evs)
	// The signing key, to anyone: with the key of the TLS connection it
	// makes the device ID, which a pairing link carries and a client checks
	// before it sends the link's code.
	h.mux.HandleFunc("GET /api/device", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(wire.Device{DeviceKey: p.deviceKey})
	})
	web.Register(h.mux)
	h.AddHealth("pairing", func() any { return store.Status() })
	return nil
}

func (p *pairingPart) listening(addr string) {
	if err := linkaddr.Save(p.dataDir, addr); err != nil {
		p.log.Warn("cannot record the listening address; doorbell member pair needs -addr", "err", err)
	}
	if err := linkaddr.SaveDeviceID(p.dataDir, p.deviceID); err != nil {
		p.log.Warn("cannot record the device ID; links from doorbell member pair will lack it", "err", err)
	}
}

// registerAll registers each collector of the part named what, or says
// which part's metrics clash.
func registerAll(reg prometheus.Registerer, what string, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("%s metrics: %w", what, err)
		}
	}
	return nil
}
