// Package daemon wires the doorbell's parts together: camera, privacy masks,
// detectors, encoder and the HTTPS server, and runs them until told to stop.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"doorbell/camera"
	"doorbell/config"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/bearer"
)

// Options say what a daemon runs on. Config and DataDir are required.
type Options struct {
	Config  config.Config
	DataDir string       // keys, tokens, members and sealed clips
	Log     *slog.Logger // nil: discard

	// Opener opens the camera; nil means the one Config.Camera names.
	Opener camera.Opener

	// Listening, if set, is called with the HTTPS server's address once it listens.
	Listening func(addr string)

	// Demo, if set, runs the demo: fake GPIO pins, a demo member, and the
	// pairing link and each clip's open command on the terminal. Production
	// leaves it nil and never reaches the demo's code (demo.go).
	Demo *Demo
}

// Daemon is one running doorbell. Run builds its parts (parts.go), each
// from what it needs; they attach themselves to the daemon's host.
type Daemon struct {
	cfg       config.Config
	dataDir   string
	log       *slog.Logger
	opener    camera.Opener
	listening func(addr string)
	demo      *Demo
	bus       *events.Bus

	host

	started time.Time
	mask    *camera.Mask
	camera  *camera.Supervisor

	ledMu sync.Mutex
	led   *gpio.LED // the GPIO part's, once Run has built it

	parts parts // what Run built, before it listens
}

// New prepares a daemon. Nothing runs until Run.
func New(o Options) *Daemon {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A file that contradicts its privacy profile was refused by config
	// already; a config built in code obeys the profile as well.
	o.Config.ApplyPrivacyProfile(nil)
	reg := prometheus.NewRegistry()
	bus := events.NewBus()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), busMetrics{bus})
	return &Daemon{
		cfg: o.Config, dataDir: o.DataDir, log: log, opener: o.Opener,
		listening: o.Listening, demo: o.Demo, bus: bus,
		host: host{mux: http.NewServeMux(), metrics: reg},
		led:  gpio.NewLED(nil, false),
	}
}

// DataDir is the directory of the daemon's keys, tokens, members and clips.
func (d *Daemon) DataDir() string { return d.dataDir }

// Bus is the daemon's event bus: rings, motion and sealed clips.
func (d *Daemon) Bus() *events.Bus { return d.bus }

// Handler serves the daemon's HTTP API, as its HTTPS server does.
func (d *Daemon) Handler() http.Handler { return d.mux }

// LED is the status LED. It is never nil: without GPIO it only keeps the state.
func (d *Daemon) LED() *gpio.LED {
	d.ledMu.Lock()
	defer d.ledMu.Unlock()
	return d.led
}

// Run starts every part, serves HTTP on the config's http.listen and
// returns when ctx ends (nil) or when the server cannot start (the error
// says why).
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	ln, err := net.Listen("tcp", d.cfg.HTTP.Listen)
	if err != nil {
		return listenError(d.cfg.HTTP.Listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) error {
		ln.Close()
		cancel()
		d.background.Wait()
		return err
	}

	mask, err := camera.NewMask(d.cfg.Camera.Width, d.cfg.Camera.Height, regionPoints(d.cfg.PrivacyMask))
	if err != nil {
		return fail(err)
	}
	d.mask = mask
	tls, spki, err := d.loadTLS()
	if err != nil {
		return fail(err)
	}
	opener := d.opener
	if opener == nil {
		opener = openerFor(d.cfg.Camera, d.log)
	}
	d.camera = camera.NewSupervisor(d.cfg.Camera.Source, opener, camera.SinkFunc(d.onFrame), d.log)
	d.camera.RegisterMetrics(d.metrics)

	ps, err := d.build(tls, spki)
	if err != nil {
		return fail(err)
	}
	d.parts = ps
	d.ledMu.Lock()
	d.led = ps.led
	d.ledMu.Unlock()
	for _, p := range ps.all {
		if err := p.start(ctx, &d.host); err != nil {
			return fail(err)
		}
	}
	d.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { d.serveHealth(w, r, ps.tokens, ps.priv) })
	d.mux.Handle("GET /metrics", insidersOnly(ps.tokens, promhttp.HandlerFor(d.metrics, promhttp.HandlerOpts{})))

	d.goBackground(func() { ps.priv.runCamera(ctx, d.camera) }) // only after a ring in the no-recording profile (privacy.go)

	// Long-lived requests (event streams) end when the daemon stops.
	srv, conns := newHTTPServer(ctx, ps.priv.lanOnly(d.mux), tls.TLSConfig(), d.log, defaultHTTPLimits) // httpserver.go
	var redirect *http.Server
	if d.cfg.HTTP.RedirectListen != "" {
		if redirect, err = startRedirect(d.cfg.HTTP.RedirectListen, ln.Addr().String()); err != nil {
			return fail(err)
		}
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(conns.Listener(ln), "", "") }()
	addr := ln.Addr().String()
	d.log.Info("listening", "url", "https://"+addr+"/", "camera", d.cfg.Camera.String())
	defer d.up(ctx, addr)() // setup card, READY=1, watchdog pings (systemd.go)
	for _, p := range ps.all {
		if l, ok := p.(listener); ok {
			l.listening(addr)
		}
	}
	if d.listening != nil {
		d.listening(addr)
	}
	if ps.demo != nil {
		ps.demo.printLink(addr) // after the caller's banner
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		cancel()
	}
	// Stop within 2 s in all: 1 s for requests to finish, then cut them
	// off; the parts (the recorder sealing its clip) run on meanwhile and
	// have until 1.8 s.
	stopBy, stop := context.WithTimeout(context.Background(), 1800*time.Millisecond)
	defer stop()
	shutdownCtx, stopShutdown := context.WithTimeout(stopBy, time.Second)
	defer stopShutdown()
	if srv.Shutdown(shutdownCtx) != nil {
		srv.Close()
	}
	if redirect != nil {
		redirect.Close()
	}
	cancel()
	d.waitBackground(stopBy)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// waitBackground waits for the background goroutines (the recorder seals
// its clip, so nothing recorded is lost) until ctx ends, and then says
// that something did not stop rather than hang the shutdown.
func (d *Daemon) waitBackground(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		d.background.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.log.Warn("some parts did not stop in time; stopping without them")
	}
}

// onFrame runs on the camera goroutine for every frame: masks first, so that
// no consumer ever sees a masked pixel.
func (d *Daemon) onFrame(f *camera.Frame) {
	d.mask.Apply(f)
	for _, s := range d.frameSinks() {
		s.WriteFrame(f)
	}
}

// Health is the body of /healthz.
func (d *Daemon) Health() map[string]any {
	h := map[string]any{
		"camera":   d.camera.Status(),
		"uptime_s": time.Since(d.started).Seconds(),
	}
	for _, s := range d.healthSections() {
		h[s.name] = s.f()
	}
	return h
}

func (d *Daemon) serveHealth(w http.ResponseWriter, r *http.Request, auth bearer.Authorizer, priv *privacyPart) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !insider(auth, r) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"camera":   priv.publicCamera(d.camera), // privacy.go
			"uptime_s": time.Since(d.started).Seconds(),
			"details":  "the other parts are shown only to this machine and to paired devices (Authorization: Bearer TOKEN)",
		})
		return
	}
	_ = json.NewEncoder(w).Encode(d.Health())
}

// insider reports whether r may see what the parts are doing: a request
// from the device itself, or one with a paired device's token. To anyone
// else on the network, motion, recording, viewers and ring counts would
// tell when someone is at the door, or when nobody is home.
func insider(auth bearer.Authorizer, r *http.Request) bool {
	if fromLoopback(r) {
		return true
	}
	token, ok := bearer.Token(r)
	if !ok {
		return false
	}
	_, ok = auth.Authorize(token)
	return ok
}

// insidersOnly answers 401 to anyone but insiders.
func insidersOnly(auth bearer.Authorizer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !insider(auth, r) {
			w.Header().Set("WWW-Authenticate", bearer.Challenge)
			http.Error(w, "the metrics tell when someone is at the door: scrape them from the device itself, or with a paired device's token (Authorization: Bearer TOKEN; doorbell member pair makes one)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether the request came from this machine.
func fromLoopback(r *http.Request) bool {
	ip := remoteIP(r)
	return ip != nil && ip.IsLoopback()
}

// remoteIP is the address r came from, or nil.
func remoteIP(r *http.Request) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// startRedirect serves plain HTTP on listen that only sends browsers to the
// HTTPS port of httpsAddr.
func startRedirect(listen, httpsAddr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, listenError(listen, err)
	}
	_, port, _ := net.SplitHostPort(httpsAddr)
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			http.Redirect(w, r, "https://"+net.JoinHostPort(host, port)+r.URL.RequestURI(), http.StatusMovedPermanently)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// listenError explains a failed listen in one line.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("cannot listen on %s: the port is already in use; stop the other program or choose another port with -listen", addr)
	}
	return fmt.Errorf("cannot listen on %s: %w; check http.listen or -listen", addr, err)
}

func regionPoints(rs []config.Region) [][][2]float64 {
	out := make([][][2]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Points()
	}
	return out
}
