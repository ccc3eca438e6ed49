package daemon

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"doorbell/config"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/testkit"
	"doorbell/pairing"
)

// bellConfig is the defaults with a tiny, slow camera and no motion
// detection, so that tests of the button spend little CPU on pictures.
func bellConfig() config.Config {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 64, 48, 5
	cfg.Motion.Enabled = false
	return cfg
}

// gpioSection is the "gpio" and "demo_button" parts of /healthz.
type gpioSection struct {
	GPIO struct {
		gpio.Status
		Reason string
		Demo   bool
	}
	DemoButton map[string]string `json:"demo_button"`
}

func getGPIOHealth(t testing.TB, addr string) gpioSection {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h gpioSection
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// metricValue reads one unlabelled metric from /metrics.
func scrapeMetric(t testing.TB, addr, name string) float64 {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s", name)
	return 0
}

// press presses the demo button over HTTP, as a person's script would.
func pressDemo(t testing.TB, addr string) {
	t.Helper()
	resp, err := insecure.Post("https://"+addr+"/api/demo/press", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/demo/press answered %s", resp.Status)
	}
}

// nextRing waits for a ring on the bus.
func nextRing(t testing.TB, ch <-chan events.Event) events.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Kind == events.Ring {
				return e
			}
		case <-deadline:
			t.Fatal("no ring on the bus within 5 s")
		}
	}
}

// demoMode runs the demo with in as its terminal.

func demoMode(in io.Reader) func(*Options) {
	return func(o *Options) { o.Demo = &Demo{Out: io.Discard, Input: in} }
}

// subscribed subscribes bus to the daemon's events before it runs.
func subscribed(bus *<-chan events.Event) func(*Daemon) {
	return func(d *Daemon) { *bus, _ = d.Bus().Subscribe("test", 100) }
}

func TestDemoPressRingsChimesAndCounts(t *testing.T) {
	var bus <-chan events.Event
	_, addr, stop := started(t, bellConfig(), demoMode(strings.NewReader("")), subscribed(&bus))
	defer stop()

	// Standard input at its end (as under systemd or CI): no ring, and the
	// reader has stopped rather than spinning.
	testkit.Eventually(t, 30*time.Second, "the demo to notice that standard input is closed", func() bool {
		return getGPIOHealth(t, addr).DemoButton["enter_key"] == "closed"
	})
	h := getGPIOHealth(t, addr)
	if h.GPIO.State != "running" || !h.GPIO.Demo || h.GPIO.Rings != 0 {
		t.Fatalf("gpio health before any press: %+v", h.GPIO)
	}

	pressDemo(t, addr)
	first := nextRing(t, bus)
	if first.Repeat || first.Time.IsZero() || first.ID == 0 {
		t.Errorf("first ring %+v", first)
	}
	waitReleased(t, addr)
	pressDemo(t, addr)
	if second := nextRing(t, bus); !second.Repeat {
		t.Errorf("a press within the %gs cooldown is not marked Repeat", config.Defaults().GPIO.Button.Cooldown)
	}
	if n := scrapeMetric(t, addr, "doorbell_rings_total"); n != 2 {
		t.Errorf("doorbell_rings_total = %v, want 2", n)
	}
	if n := scrapeMetric(t, addr, "doorbell_ring_repeats_total"); n != 1 {
		t.Errorf("doorbell_ring_repeats_total = %v, want 1", n)
	}
	if h := getGPIOHealth(t, addr); h.GPIO.Rings != 2 || h.GPIO.Chime == "" || h.GPIO.LED == "" {
		t.Errorf("gpio health after two presses: %+v", h.GPIO)
	}
}

func TestDemoEnterRings(t *testing.T) {
	r, w := io.Pipe()
	var bus <-chan events.Event
	_, addr, stop := started(t, bellConfig(), demoMode(r), subscribed(&bus))
	defer stop()
	if _, err := io.WriteString(w, "\n"); err != nil {
		t.Fatal(err)
	}
	nextRing(t, bus)
	if h := getGPIOHealth(t, addr); h.DemoButton["enter_key"] != "listening" {
		t.Errorf("demo button health %v while the terminal is open", h.DemoButton)
	}
	w.Close()
	testkit.Eventually(t, 30*time.Second, "the closed terminal noticed", func() bool {
		return getGPIOHealth(t, addr).DemoButton["enter_key"] == "closed"
	})
	time.Sleep(200 * time.Millisecond)
	if n := scrapeMetric(t, addr, "doorbell_rings_total"); n != 1 {
		t.Errorf("doorbell_rings_total = %v after one Enter and a closed terminal, want 1", n)
	}
}

func TestDemoPressAnswersOnlyThisMachine(t *testing.T) {
	d, _, stop := started(t, bellConfig(), demoMode(strings.NewReader("")))
	defer stop()
	for _, c := range []struct {
		remote, site string
		want         int
	}{
		{"192.0.2.7:5555", "", http.StatusForbidden},
		{"[2001:db8::1]:5555", "", http.StatusForbidden},
		{"127.0.0.1:5555", "cross-site", http.StatusForbidden},
		{"[::1]:5555", "", http.StatusAccepted},
		{"127.0.0.1:5555", "same-origin", http.StatusAccepted},
	} {
		req := httptest.NewRequest("POST", "/api/demo/press", nil)
		req.RemoteAddr = c.remote
		if c.site != "" {
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		rec := httptest.NewRecorder()
		d.Handler().ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("from %s (Sec-Fetch-Site %q): %d, want %d", c.remote, c.site, rec.Code, c.want)
		}
	}
}

func TestNoDemoButtonOutsideDemo(t *testing.T) {
	cfg := bellConfig()
	cfg.GPIO.Enabled = false
	_, addr, stop := started(t, cfg)
	defer stop()
	resp, err := insecure.Post("https://"+addr+"/api/demo/press", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /api/demo/press outside demo mode answered %s, want 404", resp.Status)
	}
	if h := getGPIOHealth(t, addr); h.GPIO.State != "off" {
		t.Errorf("gpio health with gpio.enabled = false: %+v", h.GPIO)
	}
}

func TestDaemonRunsWithoutGPIO(t *testing.T) {
	cfg := bellConfig()
	// No chip on a test machine; on a Pi, no such line: unavailable either way.
	cfg.GPIO.Button.Pin = "NO_SUCH_LINE_99"
	_, addr, stop := started(t, cfg)
	defer stop()
	h := getGPIOHealth(t, addr)
	if h.GPIO.State != "unavailable" || h.GPIO.Reason == "" {
		t.Fatalf("gpio health without GPIO: %+v", h.GPIO)
	}
	if !strings.Contains(h.GPIO.Reason, "gpio") || !strings.Contains(h.GPIO.Reason, "; ") {
		t.Errorf("reason %q does not say what to do", h.GPIO.Reason)
	}
	if n := scrapeMetric(t, addr, "doorbell_rings_total"); n != 0 {
		t.Errorf("doorbell_rings_total = %v", n)
	}
	// The rest of the daemon works.
	waitHealth(t, addr, "the camera running", func(h health) bool { return h.Camera.State == "running" })
}

func TestLEDIsReachable(t *testing.T) {
	d, addr, stop := started(t, bellConfig(), demoMode(strings.NewReader("")))
	defer stop()
	d.LED().Set(gpio.Recording, true)
	if h := getGPIOHealth(t, addr); h.GPIO.Shows != "recording" {
		t.Errorf("the LED shows %q after Set(Recording)", h.GPIO.Shows)
	}
	d.LED().Set(gpio.Recording, false)
	if h := getGPIOHealth(t, addr); h.GPIO.Shows != "idle" {
		t.Errorf("the LED shows %q after Recording ends", h.GPIO.Shows)
	}
}

// sseEvent is one Server-Sent Event and when it arrived.
type sseEvent struct {
	name, data string
	at         time.Time
}

// openEvents pairs a phone the way the phone page does (a one-time code
// for POST /api/pair) and opens its /api/events stream. It returns once
// the stream is open, with a channel of the events read from it.
func openEvents(t testing.TB, d *Daemon, addr string) <-chan sseEvent {
	t.Helper()
	testkit.AddMember(t, d.DataDir(), "tester")
	code, err := pairing.NewCode(d.DataDir(), "tester", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := insecure.Post("https://"+addr+"/api/pair", "application/json",
		strings.NewReader(`{"code":"`+code.Code+`","device":"test phone"}`))
	if err != nil {
		t.Fatal(err)
	}
	var paired struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&paired)
	resp.Body.Close()
	if err != nil || paired.Token == "" {
		t.Fatalf("pairing answered %s, token %q, %v", resp.Status, paired.Token, err)
	}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+paired.Token)
	stream := &http.Client{Transport: insecure.Transport} // no timeout: the stream stays open
	resp, err = stream.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /api/events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	open := make(chan struct{})
	go func() {
		defer close(out)
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		first := true
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					ev.at = time.Now()
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				// The server's first comment: it has subscribed to the bus.
				if first {
					first = false
					close(open)
				}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	select {
	case <-open:
	case <-time.After(10 * time.Second):
		t.Fatal("/api/events sent nothing within 10 s")
	}
	return out
}

// nextSSERing reads the stream up to its next ring.
func nextSSERing(t testing.TB, evs <-chan sseEvent) sseEvent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("/api/events ended")
			}
			if ev.name == string(events.Ring) {
				return ev
			}
		case <-deadline:
			t.Fatal("no ring on /api/events within 5 s")
		}
	}
}

// A press reaches every open phone page: a paired client on /api/events
// gets the ring, with its kind and time only.
func TestRingReachesOpenPages(t *testing.T) {
	var bus <-chan events.Event
	d, addr, stop := started(t, bellConfig(), demoMode(strings.NewReader("")), subscribed(&bus))
	defer stop()
	phones := []<-chan sseEvent{openEvents(t, d, addr), openEvents(t, d, addr)}
	pressDemo(t, addr)
	onBus := nextRing(t, bus)
	for i, p := range phones {
		ev := nextSSERing(t, p)
		var data struct {
			Kind string
			Time time.Time
		}
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			t.Fatalf("phone %d: data %q: %v", i, ev.data, err)
		}
		if data.Kind != "ring" || !data.Time.Equal(onBus.Time) {
			t.Errorf("phone %d got %s, want the ring of %v", i, ev.data, onBus.Time)
		}
	}
}

// BenchmarkPressToSSE measures the time from a press of the demo button
// (POST /api/demo/press; fake line, 30 ms debounce, bus) to the ring at a
// paired client of /api/events, all on loopback.
func BenchmarkPressToSSE(b *testing.B) {
	d, addr, stop := started(b, bellConfig(), demoMode(strings.NewReader("")))
	defer stop()
	phone := openEvents(b, d, addr)
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		pressDemo(b, addr)
		lat = append(lat, nextSSERing(b, phone).at.Sub(t0))
		waitReleased(b, addr)
	}
	b.ReportMetric(millis(percentileOf(lat, 0.50)), "press-to-sse-p50-ms")
	b.ReportMetric(millis(percentileOf(lat, 0.99)), "press-to-sse-p99-ms")
}
