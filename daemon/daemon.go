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
	"doorbell/pairing"
	"doorbell/stream"
)

// Daemon is one running doorbell. The start* hooks in this package's other
// files add their parts to it through AddSink, AddHealth, Mux and Metrics.
type Daemon struct {
	Cfg     config.Config
	Log     *slog.Logger
	Bus     *events.Bus
	Mux     *http.ServeMux
	Metrics *prometheus.Registry
	DataDir string
	Demo    bool

	// Opener opens the camera; nil means the one Cfg.Camera names.
	Opener camera.Opener

	started time.Time
	mask    *camera.Mask
	camera  *camera.Supervisor

	mu     sync.Mutex
	sinks  []camera.Sink
	health []healthSection

	// Set by the start hooks, in the order Run calls them, before the
	// server takes its first request.
	tokenStore *pairing.Store // paired devices' tokens (startPairing)
	led        *gpio.LED      // the status LED, or only its state without GPIO (startGPIO)
	ring       *stream.Ring   // recent encoded pictures: live view and pre-roll (startStream)
	window     *liveWindow    // the no-recording profile's live window, else nil (privacy.go)

	// background is every goroutine that must finish before Run returns:
	// the recorder sealing its clip, the encoder, the watchers.
	background sync.WaitGroup

	// Listening, if set, is called with the HTTPS server's address once it listens.
	Listening func(addr string)
}

type healthSection struct {
	name string
	f    func() any
}

// AddSink makes s receive every frame after the privacy masks are applied.
func (d *Daemon) AddSink(s camera.Sink) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sinks = append(d.sinks, s)
}

// AddHealth adds a section to /healthz, computed by f at each request.
func (d *Daemon) AddHealth(name string, f func() any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health = append(d.health, healthSection{name, f})
}

// New prepares a daemon for cfg, storing its keys and clips in dataDir.
func New(cfg config.Config, dataDir string, log *slog.Logger) *Daemon {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Daemon{
		Cfg: cfg, Log: log, Bus: events.NewBus(), Mux: http.NewServeMux(),
		Metrics: reg, DataDir: dataDir,
		led: gpio.NewLED(nil, false),
	}
}

// Run starts every part, serves HTTP on cfg.HTTP.Listen and returns when ctx
// ends (nil) or when the server cannot start (the error says why).
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	d.enforcePrivacy() // privacy.go
	ln, err := net.Listen("tcp", d.Cfg.HTTP.Listen)
	if err != nil {
		return listenError(d.Cfg.HTTP.Listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	mask, err := camera.NewMask(d.Cfg.Camera.Width, d.Cfg.Camera.Height, regionPoints(d.Cfg.PrivacyMask))
	if err != nil {
		ln.Close()
		return err
	}
	d.mask = mask
	tlsConfig, err := d.tlsConfig()
	if err != nil {
		ln.Close()
		return err
	}
	opener := d.Opener
	if opener == nil {
		opener = openerFor(d.Cfg.Camera, d.Log)
	}
	d.camera = camera.NewSupervisor(d.Cfg.Camera.Source, opener, camera.SinkFunc(d.onFrame), d.Log)
	d.camera.RegisterMetrics(d.Metrics)

	// Each part may use those started before it.
	for _, start := range []func(context.Context) error{d.startPairing, d.startGPIO, d.startStream, d.startMotion, d.startMQTT, d.startRecorder} {
		if err := start(ctx); err != nil {
			ln.Close()
			cancel()
			d.background.Wait()
			return err
		}
	}
	d.Mux.HandleFunc("GET /healthz", d.serveHealth)
	d.Mux.Handle("GET /metrics", d.insidersOnly(promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{})))

	d.goBackground(func() { d.runCamera(ctx) }) // only after a ring in the no-recording profile (privacy.go)

	srv := &http.Server{
		Handler:           d.lanOnly(d.Mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.Log.Handler(), slog.LevelDebug),
		// Long-lived requests (event streams) end when the daemon stops.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	var redirect *http.Server
	if d.Cfg.HTTP.RedirectListen != "" {
		redirect, err = d.startRedirect(ln.Addr().String())
	}
	if err != nil {
		ln.Close()
		cancel()
		d.background.Wait()
		return err
	}
	srv.TLSConfig = tlsConfig
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	d.Log.Info("listening", "url", "https://"+ln.Addr().String()+"/", "camera", d.Cfg.Camera.String())
	defer d.up(ctx, ln.Addr().String())() // setup card, READY=1, watchdog pings (systemd.go)
	if d.Listening != nil {
		d.Listening(ln.Addr().String())
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
		d.Log.Warn("some parts did not stop in time; stopping without them")
	}
}

// goBackground runs f on a goroutine that Run waits for before it returns.
func (d *Daemon) goBackground(f func()) {
	d.background.Add(1)
	go func() {
		defer d.background.Done()
		f()
	}()
}

// onFrame runs on the camera goroutine for every frame: masks first, so that
// no consumer ever sees a masked pixel.
func (d *Daemon) onFrame(f *camera.Frame) {
	d.mask.Apply(f)
	d.mu.Lock()
	sinks := d.sinks
	d.mu.Unlock()
	for _, s := range sinks {
		s.WriteFrame(f)
	}
}

// Health is the body of /healthz.
func (d *Daemon) Health() map[string]any {
	h := map[string]any{
		"camera":   d.camera.Status(),
		"uptime_s": time.Since(d.started).Seconds(),
	}
	d.mu.Lock()
	sections := d.health
	d.mu.Unlock()
	for _, s := range sections {
		h[s.name] = s.f()
	}
	return h
}

func (d *Daemon) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !d.insider(r) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"camera":   d.publicCamera(), // privacy.go
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
func (d *Daemon) insider(r *http.Request) bool {
	if fromLoopback(r) {
		return true
	}
	token, ok := bearer.Token(r)
	if !ok || d.tokenStore == nil {
		return false
	}
	_, ok = d.tokenStore.Authorize(token)
	return ok
}

// insidersOnly answers 401 to anyone but insiders.
func (d *Daemon) insidersOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.insider(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="doorbell"`)
			http.Error(w, "the metrics tell when someone is at the door: scrape them from the device itself, or with a paired device's token (Authorization: Bearer TOKEN; doorbell member pair makes one)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether the request came from this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startRedirect serves plain HTTP that only sends browsers to the HTTPS port.
func (d *Daemon) startRedirect(httpsAddr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", d.Cfg.HTTP.RedirectListen)
	if err != nil {
		return nil, listenError(d.Cfg.HTTP.RedirectListen, err)
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
	return fmt.Errorf("cannot listen on %s: %v; check http.listen or -listen", addr, err)
}

func regionPoints(rs []config.Region) [][][2]float64 {
	out := make([][][2]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Points()
	}
	return out
}
