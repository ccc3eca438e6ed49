package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"doorbell/camera"
	"doorbell/config"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/wire"
)

// chromiumPath is Debian's browser binary; /usr/bin/chromium is a wrapper
// script that refuses to run as root.
const chromiumPath = "/usr/lib/chromium/chromium"

// browser starts a headless Chromium with a fresh profile and returns a
// context for its first tab. Chromium and ffmpeg are part of the suite
// (deploy/setup.sh installs them): missing, they fail the test. extra
// adds flags (talk_browser_test.go's fake microphone).
func browser(tb testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	ctx, _ := newBrowser(tb, extra...)
	return ctx
}

// newBrowser starts a Chromium with a fresh profile, as browser does, and
// returns it with what ends it before the test does (it ends at the test's
// cleanup anyway, also when the test fails first).
func newBrowser(tb testing.TB, extra ...chromedp.ExecAllocatorOption) (context.Context, func()) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("browser tests are not short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		tb.Fatalf("no Chromium at %s: run make test (deploy/setup.sh installs it), or apt-get install -y chromium", chromiumPath)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		tb.Fatal("no ffmpeg: run make test (deploy/setup.sh installs it), or apt-get install -y ffmpeg")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("ignore-certificate-errors", true), // the device's self-signed certificate
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	closeBrowser := func() {
		cancel()
		cancelAlloc()
	}
	tb.Cleanup(closeBrowser)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		tb.Fatalf("cannot start Chromium: %v", err)
	}
	return ctx, closeBrowser
}

// js evaluates expr (awaiting a promise) in the page.
func js[T any](ctx context.Context, expr string) (T, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS evaluates expr until ok says yes, across navigations, and returns
// the value; it fails tb after timeout.
func waitJS[T any](tb testing.TB, ctx context.Context, expr string, timeout time.Duration, ok func(T) bool) T {
	tb.Helper()
	var v T
	testkit.EventuallyNil(tb, timeout, expr+" to be as wanted", func() error {
		var err error
		if v, err = js[T](ctx, expr); err != nil {
			return err
		}
		if !ok(v) {
			return fmt.Errorf("it is %v", v)
		}
		return nil
	})
	return v
}

// startedTB runs a daemon for cfg, as started does, for tests and
// benchmarks, and returns it with its address.
func startedTB(tb testing.TB, cfg config.Config) (*Daemon, string) {
	tb.Helper()
	// Pairing needs members, and with members the doorbell records; clips
	// are not these tests' subject, and a recording would light the LED.
	cfg.Recorder.OnMotion, cfg.Recorder.OnRing = false, false
	d, addr, _ := started(tb, cfg)
	return d, addr
}

// pairBrowser opens a fresh pairing link in the browser and waits for the
// live view to show pictures.
func pairBrowser(tb testing.TB, ctx context.Context, d *Daemon, addr, member string) {
	tb.Helper()
	testkit.AddMember(tb, d.DataDir(), member)
	code, err := pairing.NewCode(d.DataDir(), member, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(wire.PairLink(addr, code.Code, deviceID(tb, d)))); err != nil {
		tb.Fatal(err)
	}
	waitJS(tb, ctx, `location.pathname + (window.doorbell ? ' app' : '')`, 30*time.Second, func(s string) bool { return s == "/ app" })
	waitJS(tb, ctx, `doorbell.framesDecoded()`, 30*time.Second, func(n int) bool { return n > 0 })
}

func viewers(tb testing.TB, addr string) int {
	tb.Helper()
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Stream struct{ Viewers struct{ Viewers int } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		tb.Fatal(err)
	}
	return h.Stream.Viewers.Viewers
}

// The whole path in a real browser: pairing link → token in the browser →
// live video decoding → ring banner → mute → revoked: session closed.
func TestBrowserPairsWatchesAndIsRevoked(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 640, 480, 30
	d, addr := startedTB(t, cfg)
	ctx := browser(t)
	pairBrowser(t, ctx, d, addr, "anna")

	// The code left the address bar; the token is in localStorage.
	href, _ := js[string](ctx, `location.href`)
	token, _ := js[string](ctx, `localStorage.getItem('doorbell.token') || ''`)
	if strings.Contains(href, "#") || strings.Contains(href, "pair") || len(token) != 43 {
		t.Errorf("after pairing: at %s, token of %d characters", href, len(token))
	}
	state, _ := js[string](ctx, `doorbell.state + ' ' + document.getElementById('state').textContent`)
	if state != "live Live" {
		t.Errorf("state shown: %q", state)
	}
	ms, _ := js[float64](ctx, `doorbell.firstFrameMs || 0`)
	t.Logf("first picture %.0f ms after the page started loading (pairing page included)", ms)

	// Someone rings: the banner shows.
	waitJS(t, ctx, `doorbell.events.length >= 0 && document.getElementById('ring').hidden`, 30*time.Second, func(b bool) bool { return b })
	testkit.Eventually(t, 30*time.Second, "the page's event stream open", func() bool {
		return scrapeMetric(t, addr, "doorbell_event_streams") >= 1
	})
	// The stream is counted just before it subscribes to the bus, so a ring
	// is sent again until the banner shows.
	var rang time.Time
	testkit.Eventually(t, 30*time.Second, "the ring banner", func() bool {
		if time.Since(rang) > 500*time.Millisecond {
			d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now()})
			rang = time.Now()
		}
		v, _ := js[bool](ctx, `!document.getElementById('ring').hidden && doorbell.events.some((e) => e.kind === 'ring')`)
		return v
	})

	// The stream has no sound, so there is no sound toggle.
	if hidden, _ := js[bool](ctx, `document.getElementById('mute').hidden && document.getElementById('video').muted`); !hidden {
		t.Error("a sound toggle is shown for a stream without sound")
	}

	// Revoked from the CLI: the session ends within a second, and the page
	// says it is not paired.
	if n := viewers(t, addr); n != 1 {
		t.Fatalf("%d viewers before the revocation", n)
	}
	if s := d.LED().State(); s != gpio.Watching {
		t.Errorf("the status LED shows %v while someone watches, want %v", s, gpio.Watching)
	}
	start := time.Now()
	if _, _, err := pairing.Revoke(d.DataDir(), "anna"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the live session to close after the revocation", func() bool { return viewers(t, addr) == 0 })
	// How soon is for a loaded machine to blur; it is logged, not asserted.
	t.Logf("live session closed %v after the revocation", time.Since(start).Round(time.Millisecond))
	if s := d.LED().State(); s != gpio.Idle {
		t.Errorf("the status LED shows %v after the last viewer left, want %v", s, gpio.Idle)
	}
	waitJS(t, ctx, `doorbell.screen`, 10*time.Second, func(s string) bool { return s == "revoked" })
	if hidden, _ := js[bool](ctx, `document.getElementById('live').hidden && !document.getElementById('screen').hidden`); !hidden {
		t.Error("the revoked screen does not replace the live view")
	}
}

// A used pairing link shows an error and keeps no token.
func TestBrowserReusedLink(t *testing.T) {
	d, addr := startedTB(t, smallCamera())
	ctx := browser(t)
	testkit.AddMember(t, d.DataDir(), "anna")
	code, _ := pairing.NewCode(d.DataDir(), "anna", time.Now())
	if _, _, err := pairing.Open(d.DataDir(), nil).Pair(code.Code, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(wire.PairLink(addr, code.Code, deviceID(t, d)))); err != nil {
		t.Fatal(err)
	}
	msg := waitJS(t, ctx, `document.body.dataset.screen === 'code-used' && document.getElementById('screen-title').textContent`, 5*time.Second,
		func(s string) bool { return s != "" })
	if !strings.Contains(msg, "used already") {
		t.Errorf("message %q", msg)
	}
	if tok, _ := js[string](ctx, `localStorage.getItem('doorbell.token') || ''`); tok != "" {
		t.Error("a token was kept")
	}
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(math.Round(p*float64(len(s)-1)))]
}

// Page load to first decoded picture, in a paired browser, p50 of 10 loads
// (target ≤ 300 ms). The page's firstFrameMs is the first
// requestVideoFrameCallback's presentation time, from navigation start.
// "reload" loads the page again in its tab (the earlier page's teardown
// counts); "new-tab" opens it in a fresh tab each time (a new renderer
// process counts).
//
//	go test -run '^$' -bench BrowserTimeToFirstFrame -benchtime 1x ./daemon
func BenchmarkBrowserTimeToFirstFrame(b *testing.B) {
	ctx := browser(b)
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 640, 480, 30
	d, addr := startedTB(b, cfg)
	pairBrowser(b, ctx, d, addr, "bench")
	load := func(b *testing.B, tab context.Context) float64 {
		if err := chromedp.Do(tab, chromedp.Navigate("https://"+addr+"/")); err != nil {
			b.Fatal(err)
		}
		ms := waitJS(b, tab, `(window.doorbell && doorbell.firstFrameMs) || 0`, 15*time.Second, func(v float64) bool { return v > 0 })
		m, _ := js[map[string]float64](tab, `Object.assign({html: performance.getEntriesByType('navigation')[0].responseEnd}, doorbell.marks)`)
		b.Logf("ms from navigation start: html %3.0f, script %3.0f, offer %3.0f, answer %3.0f, connected %3.0f, first frame %3.0f",
			m["html"], m["script"], m["offer"], m["answer"], m["connected"], m["frame"])
		return ms
	}
	report := func(b *testing.B, ms []float64) {
		b.ReportMetric(percentile(ms, 0.5), "ms-p50")
		b.ReportMetric(percentile(ms, 0.9), "ms-p90")
		b.ReportMetric(0, "ns/op")
		b.Logf("page load to first frame, ms: %v", ms)
	}
	b.Run("reload", func(b *testing.B) {
		var ms []float64
		for b.Loop() {
			ms = ms[:0]
			for range 10 {
				ms = append(ms, load(b, ctx))
			}
		}
		report(b, ms)
	})
	b.Run("new-tab", func(b *testing.B) {
		var ms []float64
		for b.Loop() {
			ms = ms[:0]
			for range 10 {
				tab, closeTab := chromedp.NewContext(ctx) // the profile keeps the token
				ms = append(ms, load(b, tab))
				closeTab()
			}
		}
		report(b, ms)
	})
}

// Glass-to-glass latency at 720p: the synthetic camera stamps its capture
// time into a strip of each picture; the page reads that strip back from
// the picture it shows (canvas) and notes when it was shown. Each iteration
// is a fresh browser paired anew, watching 120 pictures; the p50 is over
// all of them (target ≤ 150 ms). The camera's clock and the display's are
// independent, and their phase, set when the camera starts and where the
// browser's frames fall, holds while both run: one run's p50 is one phase's
// and moves by up to a display frame from run to run, so bench-peers takes
// the median of five runs, each a fresh daemon.
//
//	go test -run '^$' -bench BrowserGlassToGlass -benchtime 1x -count 5 ./daemon
func BenchmarkBrowserGlassToGlass720p(b *testing.B) {
	if testing.Short() {
		b.Skip("browser tests are not short")
	}
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 1280, 720, 30
	d, addr := startedTB(b, cfg)
	w, h := cfg.Camera.Width, cfg.Camera.Height
	_, strip := camera.StampGeometry(w, h)
	var lat []float64
	var p50s []string
	for session := 0; b.Loop(); session++ {
		ctx, closeBrowser := newBrowser(b)
		pairBrowser(b, ctx, d, addr, fmt.Sprintf("bench%d", session))
		time.Sleep(2 * time.Second) // past the start-up burst of the GOP replay
		var shown []float64
		for range 2 {
			if _, err := js[bool](ctx, fmt.Sprintf(`doorbell.measure(%d, 60), true`, strip/2)); err != nil {
				b.Fatal(err)
			}
			waitJS(b, ctx, `doorbell.samples.length`, 20*time.Second, func(n int) bool { return n >= 60 })
			samples, err := js[[]struct {
				Y      []int
				Width  int
				Height int
				Shown  float64
			}](ctx, `doorbell.samples`)
			if err != nil {
				b.Fatal(err)
			}
			read := 0
			for _, s := range samples {
				if s.Width != w || s.Height != h {
					b.Fatalf("picture is %dx%d, want %dx%d", s.Width, s.Height, w, h)
				}
				row := make([]byte, len(s.Y))
				for i, v := range s.Y {
					row[i] = byte(v)
				}
				if at, ok := camera.ReadTimestampRow(row, w, h); ok {
					shown = append(shown, s.Shown-float64(at.UnixMilli()))
					read++
				}
			}
			if read < len(samples)/2 {
				b.Fatalf("only %d of %d pictures had a readable time strip", read, len(samples))
			}
		}
		closeBrowser()
		p50s = append(p50s, fmt.Sprintf("%.0f", percentile(shown, 0.5)))
		lat = append(lat, shown...)
	}
	b.Logf("each browser's p50: %s ms", strings.Join(p50s, ", "))
	b.ReportMetric(percentile(lat, 0.5), "ms-p50")
	b.ReportMetric(percentile(lat, 0.9), "ms-p90")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d readable pictures; glass-to-glass p50 %.0f ms, min %.0f, max %.0f", len(lat), percentile(lat, 0.5), slices.Min(lat), slices.Max(lat))
}
