package daemon

import (
	"doorbell/internal/syncbuf"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/config"
	"doorbell/crypto/members"
	"doorbell/gpio"
	"doorbell/pairing"
	"doorbell/setupcard"
)

// notifySocket is a fake systemd: it collects what the daemon sends to
// NOTIFY_SOCKET.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func next(t *testing.T, msgs <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(within):
		t.Fatalf("systemd heard nothing within %v", within)
		return ""
	}
}

// sendNotify sends msg to the fake systemd as the daemon would.
func sendNotify(t *testing.T, msg string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestSystemdReadyWatchdogAndHang(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "300000") // pings every 100 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var hang atomic.Bool
	release := make(chan struct{})
	hung := make(chan struct{}, 1)
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 160, 120, 10
	_, addr, stop := started(t, cfg, func(d *Daemon) {
		d.AddHealth("test", func() any {
			if hang.Load() {
				select {
				case hung <- struct{}{}:
				default:
				}
				<-release
			}
			return "ok"
		})
	})

	if m := next(t, msgs, 30*time.Second); !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, "STATUS=listening on "+addr) {
		t.Fatalf("first message %q, want READY=1 and the address", m)
	}
	for i := 0; i < 3; i++ {
		if m := next(t, msgs, 30*time.Second); m != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", m)
		}
	}

	// A hung daemon (here: a part whose health never answers) stops pinging,
	// so systemd's watchdog fires and restarts the service.
	hang.Store(true)
	select {
	case <-hung:
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog asked for the daemon's health for 30 s")
	}
	// The one liveness check that may run is now stuck, so every ping the
	// daemon sent came before; a marker sent now comes after them all.
	sendNotify(t, "MARK")
	for next(t, msgs, 30*time.Second) != "MARK" {
		// a ping sent before the check got stuck
	}
	select {
	case m := <-msgs:
		t.Fatalf("got %q while the daemon was hung; want silence so that systemd restarts it", m)
	case <-time.After(time.Second): // over three watchdog intervals
	}

	close(release)
	if m := next(t, msgs, 30*time.Second); m != "WATCHDOG=1" {
		t.Fatalf("got %q after the daemon recovered, want WATCHDOG=1", m)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m == "STOPPING=1" {
				return
			}
		case <-deadline:
			t.Fatal("no STOPPING=1 when the daemon stopped")
		}
	}
}

func TestSystemdReadyWithoutWatchdog(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "")
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 160, 120, 10
	_, _, stop := started(t, cfg)
	if m := next(t, msgs, 30*time.Second); !strings.HasPrefix(m, "READY=1") {
		t.Fatalf("got %q, want READY=1", m)
	}
	select {
	case m := <-msgs:
		t.Fatalf("got %q without WatchdogSec", m)
	case <-time.After(300 * time.Millisecond):
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, msgs, 30*time.Second); m != "STOPPING=1" {
		t.Fatalf("got %q, want STOPPING=1", m)
	}
}

func TestLivenessProbeDialsLoopbackForWildcards(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8443":     "https://127.0.0.1:8443/healthz",
		"[::]:8443":        "https://[::1]:8443/healthz",
		"192.0.2.7:8443":   "https://192.0.2.7:8443/healthz",
		"127.0.0.1:443":    "https://127.0.0.1:443/healthz",
		"[fe80::1%2]:8443": "https://[fe80::1%252]:8443/healthz",
	} {
		if got := newLivenessProbe(addr, time.Second).url; got != want {
			t.Errorf("%s: probe %s, want %s", addr, got, want)
		}
	}
}

func setupCard(t *testing.T, owner string) (*setupcard.Card, []byte) {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	c := &setupcard.Card{Version: setupcard.Version,
		Owner:   setupcard.Owner{Name: owner, Recipient: id.Recipient().String()},
		Pairing: setupcard.Pairing{Code: setupcard.NewCode(), Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}}
	return c, c.Marshal()
}

func startWithCard(t *testing.T, card []byte) (dataDir, addr string, led func() gpio.State, log *syncbuf.Buffer, stop func() error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "setup", setupcard.FileName)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, card, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(SetupFileEnv, path)
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 160, 120, 10
	cfg.GPIO.Enabled = false
	log = &syncbuf.Buffer{}
	d, addr, stop := started(t, cfg, func(o *Options) { o.Log = slog.New(slog.NewTextHandler(log, nil)) })
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the setup card is still there after the daemon started: %v", err)
	}
	return d.DataDir(), addr, func() gpio.State { return d.LED().State() }, log, stop
}

func TestSetupCardMakesTheOwnerAndItsCodeWorksOnce(t *testing.T) {
	card, data := setupCard(t, "alice")
	dir, _, led, log, stop := startWithCard(t, data)
	defer stop()
	reg, err := members.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms := reg.Members(); len(ms) != 1 || ms[0].Name != "alice" || ms[0].Recipient != card.Owner.Recipient {
		t.Fatalf("members after the setup card: %+v", ms)
	}
	if led() == gpio.Error {
		t.Error("the LED shows an error after a good setup card")
	}
	if !strings.Contains(log.String(), "first-time setup done") || strings.Contains(log.String(), card.Pairing.Code) {
		t.Errorf("log:\n%s", log)
	}
	store := pairing.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, tok, err := store.Pair(card.Pairing.Code, "phone"); err != nil || tok.Member != "alice" {
		t.Fatalf("the card's code: %+v %v", tok, err)
	}
	if _, _, err := store.Pair(card.Pairing.Code, "phone 2"); err == nil {
		t.Fatal("the card's code paired twice")
	}
}

func TestMalformedSetupCardLeavesTheDeviceUnpairedAndSaysWhy(t *testing.T) {
	_, data := setupCard(t, "alice")
	data = []byte(strings.Replace(string(data), "[pairing]", "[pairing", 1))
	dir, addr, led, log, stop := startWithCard(t, data)
	defer stop()
	if reg, err := members.Load(dir); err != nil || reg.Len() != 0 {
		t.Fatalf("members after a malformed card: %v %v", reg, err)
	}
	if led() != gpio.Error {
		t.Errorf("LED shows %v, want the error pattern", led())
	}
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Setup struct{ State, Reason string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.Setup.State != "rejected" || !strings.Contains(h.Setup.Reason, setupcard.FileName+":13:") {
		t.Errorf("/healthz setup: %+v", h.Setup)
	}
	// The journal (the daemon's log) says why, and what to do.
	if l := log.String(); !strings.Contains(l, "setup card rejected") || !strings.Contains(l, setupcard.FileName+":13:") || !strings.Contains(l, "make a new card") {
		t.Errorf("log:\n%s", l)
	}
}
