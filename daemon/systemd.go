package daemon

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"doorbell/gpio"
	"doorbell/setupcard"
)

// up is called by Run once the HTTPS server listens on addr. It imports a
// first-time setup card if there is one (importSetupCard), then, under
// systemd (Type=notify, NOTIFY_SOCKET set), sends READY=1 and, when the unit
// sets WatchdogSec=, pings WATCHDOG=1 for as long as the daemon is alive:
// its state answers (Health, which takes the daemon's locks and asks every
// part) and its HTTPS server answers a request on addr. A hung daemon stops
// pinging and systemd restarts it. Outside systemd it only imports.
//
// STOPPING=1 follows when ctx ends. The returned function waits for the
// pinger to end; Run defers it.
func (d *Daemon) up(ctx context.Context, addr string) (stop func()) {
	d.importSetupCard()
	if sent, err := sd.SdNotify(false, sd.SdNotifyReady+"\nSTATUS=listening on "+addr); err != nil {
		d.log.Warn("systemd: cannot send READY=1; is NOTIFY_SOCKET right?", "err", err)
	} else if !sent {
		return func() {}
	}
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("systemd: ignoring the watchdog settings", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if interval > 0 {
			d.watchdog(ctx, addr, interval)
		}
		<-ctx.Done()
		// Run's context ends when the daemon starts to shut down.
		_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// SetupFileEnv names the environment variable with the path of the staged
// first-time setup card (doorbell.service sets it; doorbell-setup.service
// moves the card there from the boot partition). Unset: no setup card.
const SetupFileEnv = "DOORBELL_SETUP_FILE"

// importSetupCard imports the first-time setup card: the owner becomes the
// first member and the card's pairing code works once (setupcard.Import). A
// malformed card leaves the device unpaired, with the reason in the journal,
// in /healthz, and the LED flashing the error pattern until a good card
// comes or a member exists.
func (d *Daemon) importSetupCard() {
	path := os.Getenv(SetupFileEnv)
	if path == "" {
		return
	}
	log := d.log.With("part", "setup")
	out, err := setupcard.Import(path, setupcard.DataDir(d.dataDir), time.Now())
	switch out {
	case setupcard.Imported:
		log.Info("first-time setup done: the owner is the first member, and the card's pairing code works once", "owner", d.setupOwner())
	case setupcard.Ignored:
		log.Warn("setup card ignored and erased: this doorbell already has members; add members with doorbell member add instead")
	case setupcard.Rejected:
		log.Error("setup card rejected: the doorbell stays unpaired; make a new card with doorbell setup-card and put it on the boot partition", "reason", err.Error())
		d.LED().Set(gpio.Error, true)
		reason := err.Error()
		d.AddHealth("setup", func() any { return map[string]string{"state": "rejected", "reason": reason} })
		return
	}
	if err != nil {
		log.Error("setup card", "err", err)
	}
}

// setupOwner names the first member, for the log.
func (d *Daemon) setupOwner() string {
	ms, err := setupcard.DataDir(d.dataDir).Members()
	if err != nil || len(ms) == 0 {
		return ""
	}
	return ms[0].Name
}

// watchdog pings systemd three times per watchdog interval, each time only
// after a liveness check passed within a third of the interval.
func (d *Daemon) watchdog(ctx context.Context, addr string, interval time.Duration) {
	period := interval / 3
	probe := newLivenessProbe(addr, period)
	defer probe.close()
	d.log.Info("systemd watchdog on", "interval", interval)
	tick := time.NewTicker(period)
	defer tick.Stop()
	healthy := true
	for {
		if err := d.alive(ctx, probe, period); err != nil {
			if ctx.Err() != nil {
				return
			}
			if healthy {
				d.log.Error("watchdog: the daemon is not answering; systemd restarts it if this lasts", "err", err, "watchdog", interval)
			}
			healthy = false
		} else {
			if !healthy {
				d.log.Info("watchdog: the daemon answers again")
			}
			healthy = true
			if _, err := sd.SdNotify(false, sd.SdNotifyWatchdog); err != nil {
				d.log.Warn("systemd: cannot send WATCHDOG=1", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// alive checks, within timeout, that Health answers and that the HTTPS server
// answers a request. Any HTTP status counts: the question is whether the
// daemon is hung, not whether the camera works (the camera supervisor retries
// on its own). A check that hangs is not started again until it returns.
func (d *Daemon) alive(ctx context.Context, p *livenessProbe, timeout time.Duration) error {
	if !p.busy.CompareAndSwap(false, true) {
		return errCheckStillHung
	}
	done := make(chan error, 1)
	go func() {
		defer p.busy.Store(false)
		d.Health()
		done <- p.get(ctx)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errCheckTimedOut
	case <-ctx.Done():
		return ctx.Err()
	}
}

type watchdogError string

func (e watchdogError) Error() string { return string(e) }

const (
	errCheckTimedOut  = watchdogError("the liveness check (Health and GET /healthz) did not finish in time")
	errCheckStillHung = watchdogError("the previous liveness check has still not finished")
)

// livenessProbe requests /healthz from the daemon's own listener over
// loopback. The certificate is not checked: this is the daemon talking to
// itself, and only whether it answers matters.
type livenessProbe struct {
	url    string
	client *http.Client
	busy   atomic.Bool
}

func newLivenessProbe(addr string, timeout time.Duration) *livenessProbe {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
			if ip.To4() == nil {
				host = "::1"
			}
		}
		addr = net.JoinHostPort(host, port)
	}
	return &livenessProbe{
		url: (&url.URL{Scheme: "https", Host: addr, Path: "/healthz"}).String(),
		client: &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // #nosec G402: talking to itself
				DisableKeepAlives: true,
				Proxy:             nil,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (p *livenessProbe) get(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "doorbelld-watchdog")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.Body.Close()
}

func (p *livenessProbe) close() { p.client.CloseIdleConnections() }
