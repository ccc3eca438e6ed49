package daemon

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/devicekey"
	"doorbell/pairing"
	"doorbell/web"
)

// tokens returns the token store once startPairing has opened it, else nil.
// It is the Authorizer of live view (stream.WHEP), the clips API and the
// event stream: Authorize(token) returns the paired device's id.
func (d *Daemon) tokens() *pairing.Store { return d.tokenStore }

// onRevoke registers f to be called with the id of every paired device that
// is revoked while the daemon runs. Live view uses it to end the device's
// sessions at once. startPairing must have run.
func (d *Daemon) onRevoke(f func(id string)) {
	d.tokenStore.OnRevoke(func(t pairing.Token) { f(t.ID) })
}

// demoOut is where -demo prints its pairing link: the demo user's
// terminal. The code is a secret, so it never goes to the log.
var demoOut io.Writer = os.Stdout

// startPairing wires pairing, tokens, /api/events and the phone page into
// the daemon:
//
//	POST /api/pair    one-time code → token (pairing.PairHandler)
//	GET  /api/events  Server-Sent Events for paired phones (web.Events)
//	GET  /, /pair, /assets/…  the phone page (web)
//
// It makes the device signing key on first start, records the listening
// address for the CLI's links, and in demo mode prints a pairing link.
func (d *Daemon) startPairing(ctx context.Context) error {
	log := d.Log.With("part", "pairing")
	key, err := devicekey.LoadOrCreate(d.DataDir)
	if err != nil {
		return err
	}
	store := pairing.Open(d.DataDir, log) // a damaged token file is logged, and refuses everyone
	d.tokenStore = store
	d.goBackground(func() { store.Watch(ctx) })

	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "doorbell_pairing_attempts_total", Help: "POST /api/pair requests, by result."}, []string{"result"})
	for _, r := range []string{pairing.ResultPaired, pairing.ResultUnknown, pairing.ResultExpired, pairing.ResultUsed,
		pairing.ResultLimited, pairing.ResultBadRequest, pairing.ResultError} {
		attempts.WithLabelValues(r)
	}
	evs := &web.Events{Auth: store, Subscribe: d.Bus.Subscribe}
	d.Metrics.MustRegister(attempts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_paired_devices", Help: "Devices paired with a valid token."},
			func() float64 { return float64(len(store.Tokens())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_event_streams", Help: "Open /api/events streams."},
			func() float64 { return float64(evs.Open()) }))

	d.Mux.Handle("POST /api/pair", &pairing.PairHandler{
		Store: store, Log: log,
		DeviceKey: devicekey.PublicString(key.Public().(ed25519.PublicKey)),
		OnResult:  func(r string) { attempts.WithLabelValues(r).Inc() },
	})
	d.Mux.Handle("GET /api/events", evs)
	web.Register(d.Mux)
	d.AddHealth("pairing", func() any { return store.Status() })

	prev := d.Listening
	d.Listening = func(addr string) {
		if err := pairing.SaveListenAddress(d.DataDir, addr); err != nil {
			log.Warn("cannot record the listening address; doorbell member pair needs -addr", "err", err)
		}
		if prev != nil {
			prev(addr)
		}
		if d.Demo {
			d.printDemoLink(addr)
		}
	}
	return nil
}

// printDemoLink makes a pairing code for the demo member and prints its link.
func (d *Daemon) printDemoLink(addr string) {
	hostport, err := pairing.LinkAddress(d.DataDir, addr)
	if err == nil {
		var c pairing.Code
		if c, err = pairing.NewCode(d.DataDir, "demo", time.Now()); err == nil {
			fmt.Fprintf(demoOut, "Live view:   open this pairing link in a browser on this machine (works once, for %d minutes):\n             %s\n",
				int(pairing.CodeTTL.Minutes()), pairing.Link(hostport, c.Code))
			d.Log.Info("demo pairing link printed on standard output", "member", "demo", "expires", c.Expires)
			return
		}
	}
	d.Log.Warn("cannot make the demo pairing link", "err", err)
}
