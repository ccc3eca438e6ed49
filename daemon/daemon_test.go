package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"doorbell/camera"
	"doorbell/config"
	"doorbell/events"
	"doorbell/internal/testkit"
	"doorbell/pairing"
)

// started runs a daemon for cfg and returns it, its address and a stop
// function that reports how Run ended. Each setup is a func(*Options),
// which changes the options before New (DataDir is a fresh directory
// unless changed), or a func(*Daemon), called after New and before Run.
// The daemon is stopped at the test's end if the test has not stopped it.
func started(t testing.TB, cfg config.Config, setup ...any) (*Daemon, string, func() error) {
	t.Helper()
	cfg.HTTP.Listen = "127.0.0.1:0"
	addr := make(chan string, 1)
	o := Options{Config: cfg, DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}
	var before []func(*Daemon)
	for _, f := range setup {
		switch f := f.(type) {
		case func(*Options):
			f(&o)
		case func(*Daemon):
			before = append(before, f)
		default:
			t.Fatalf("started: setup %T is neither func(*Options) nor func(*Daemon)", f)
		}
	}
	o.Listening = func(a string) { addr <- a }
	d := New(o)
	for _, f := range before {
		f(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case a := <-addr:
		var once sync.Once
		var err error
		stop := func() error {
			once.Do(func() {
				cancel()
				select {
				case err = <-done:
				case <-time.After(10 * time.Second):
					t.Error("daemon did not stop within 10 s of being told to")
				}
			})
			return err
		}
		t.Cleanup(func() { _ = stop() })
		return d, a, stop
	case err := <-done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("daemon did not listen within 30 s")
	}
	return nil, "", nil
}

// logTo sends the daemon's log, at debug level, to w.
func logTo(w io.Writer) func(*Options) {
	return func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// inDir keeps the daemon's data in dir.
func inDir(dir string) func(*Options) {
	return func(o *Options) { o.DataDir = dir }
}

var insecure = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

type health struct {
	Camera struct {
		State, Source, Reason string
		FPS                   float64
		Width, Height         int
	}
	Uptime float64 `json:"uptime_s"`
}

func getHealth(t *testing.T, addr string) health {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&h) != nil {
		t.Fatalf("/healthz answered %s", resp.Status)
	}
	return h
}

func waitHealth(t *testing.T, addr, what string, ok func(health) bool) health {
	t.Helper()
	var h health
	testkit.EventuallyNil(t, 30*time.Second, "/healthz to show "+what, func() error {
		if h = getHealth(t, addr); !ok(h) {
			return fmt.Errorf("last: %+v", h)
		}
		return nil
	})
	return h
}

func TestDaemonServesHealthAndMetricsAndStops(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 20
	_, addr, stop := started(t, cfg)
	h := waitHealth(t, addr, "the camera running at 20 fps", func(h health) bool {
		return h.Camera.State == "running" && h.Camera.FPS > 18 && h.Camera.FPS < 22
	})
	if h.Camera.Source != "synthetic" || h.Camera.Width != 320 || h.Camera.Height != 240 || h.Uptime <= 0 {
		t.Errorf("health: %+v", h)
	}
	resp, err := insecure.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"doorbell_camera_frames_captured_total", "doorbell_camera_frames_dropped_total", "doorbell_camera_source_restarts_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after a clean stop", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the port is still open after the daemon stopped")
	}
}

func TestDaemonRunsWithoutItsCamera(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Source = "v4l2"
	cfg.Camera.V4L2.Device = "/dev/video-missing"
	_, addr, stop := started(t, cfg)
	defer stop()
	h := waitHealth(t, addr, "the camera retrying", func(h health) bool { return h.Camera.State == "retrying" })
	if !strings.Contains(h.Camera.Reason, "/dev/video-missing does not exist") {
		t.Errorf("retrying without saying why: %+v", h.Camera)
	}
}

func TestDaemonRefusesAPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := config.Defaults()
	cfg.HTTP.Listen = ln.Addr().String()
	d := New(Options{Config: cfg, DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	err = d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("got %v", err)
	}
}

func TestPrivacyMaskAppliesBeforeSinks(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height = 64, 48
	cfg.PrivacyMask = []config.Region{{Name: "left half", Polygon: [][]float64{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}}}
	frames := make(chan []byte, 100)
	_, _, stop := started(t, cfg, func(d *Daemon) {
		d.AddSink(camera.SinkFunc(func(f *camera.Frame) {
			select {
			case frames <- append([]byte(nil), f.Y()...):
			default:
			}
		}))
	})
	defer stop()
	for n := 0; n < 5; n++ {
		y := <-frames
		for r := 0; r < 48; r++ {
			for c := 0; c < 32; c++ {
				if y[r*64+c] != 16 {
					t.Fatalf("a sink saw pixel (%d,%d) of the masked left half: Y=%d", c, r, y[r*64+c])
				}
			}
		}
	}
}

func TestPlainHTTPOnlyRedirects(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height = 64, 48
	plain := "127.0.0.1:0"
	ln, err := net.Listen("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.RedirectListen = ln.Addr().String()
	ln.Close()
	_, addr, stop := started(t, cfg)
	defer stop()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + cfg.HTTP.RedirectListen + "/healthz?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(addr)
	host, _, _ := net.SplitHostPort(cfg.HTTP.RedirectListen)
	want := "https://" + net.JoinHostPort(host, port) + "/healthz?x=1"
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Fatalf("plain HTTP answered %s, Location %q; want 301 to %s", resp.Status, resp.Header.Get("Location"), want)
	}
}

// BenchmarkShutdown measures the time from the stop signal to Run returning.
func BenchmarkShutdown(b *testing.B) {
	cfg := config.Defaults()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Camera.Width, cfg.Camera.Height = 320, 240
	var total time.Duration
	for i := 0; i < b.N; i++ {
		up := make(chan struct{})
		d := New(Options{Config: cfg, DataDir: b.TempDir(), Log: slog.New(slog.DiscardHandler),
			Listening: func(string) { close(up) }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		<-up
		time.Sleep(200 * time.Millisecond) // let the camera run
		t0 := time.Now()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms-to-stop")
}

// Someone else on the network learns that the doorbell runs and how its
// camera is, nothing that tells when someone is at the door; the device
// itself and paired devices see everything.
func TestStrangersSeeOnlyThatTheDoorbellRuns(t *testing.T) {
	d, _, _ := started(t, smallCamera())
	testkit.AddMember(t, d.DataDir(), "anna")
	code, err := pairing.NewCode(d.DataDir(), "anna", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := pairing.Open(d.DataDir(), nil).Pair(code.Code, "Anna's phone")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, from, token string) (int, string) {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = from
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		d.Handler().ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	const stranger, lan, self = "192.0.2.7:40000", "[fd00::7]:40000", "127.0.0.1:40000"
	for _, from := range []string{stranger, lan} {
		for _, tok := range []string{"", "not-a-token"} {
			code, body := get("/healthz", from, tok)
			if code != 200 || !strings.Contains(body, `"camera":`) || !strings.Contains(body, `"details":`) {
				t.Errorf("/healthz from %s: %d %s", from, code, body)
			}
			for _, private := range []string{"motion", "recording", "stream", "gpio", "pairing"} {
				if strings.Contains(body, `"`+private+`":`) {
					t.Errorf("/healthz shows %q to %s without a valid token", private, from)
				}
			}
			if code, body := get("/metrics", from, tok); code != 401 || !strings.Contains(body, "Bearer") || strings.Contains(body, "doorbell_") {
				t.Errorf("/metrics from %s without a valid token: %d %.80s", from, code, body)
			}
		}
	}
	for _, c := range []struct{ from, token string }{{self, ""}, {stranger, token}} {
		if code, body := get("/healthz", c.from, c.token); code != 200 || !strings.Contains(body, `"motion":`) || !strings.Contains(body, `"pairing":`) {
			t.Errorf("/healthz from %s (token %v): %d %.200s", c.from, c.token != "", code, body)
		}
		if code, body := get("/metrics", c.from, c.token); code != 200 || !strings.Contains(body, "doorbell_camera_frames_captured_total") {
			t.Errorf("/metrics from %s (token %v): %d", c.from, c.token != "", code)
		}
	}
}

// Events lost to a subscriber's full buffer are counted, by subscriber.
func TestDroppedEventsAreCounted(t *testing.T) {
	d, addr, _ := started(t, smallCamera())
	if n := scrapeMetric(t, addr, `doorbell_events_dropped_total{subscriber="recorder"}`); n != 0 {
		t.Errorf("the recorder dropped %v events on an idle doorbell", n)
	}
	_, unsubscribe := d.Bus().Subscribe("stuck", 1) // never read
	defer unsubscribe()
	for i := range 5 {
		d.Bus().Publish(events.Event{Kind: events.ClipSealed, Time: time.Now(), Clip: fmt.Sprint(i)})
	}
	if n := scrapeMetric(t, addr, `doorbell_events_dropped_total{subscriber="stuck"}`); n != 4 {
		t.Errorf(`doorbell_events_dropped_total{subscriber="stuck"} = %v, want 4`, n)
	}
}
