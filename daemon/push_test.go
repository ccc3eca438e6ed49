package daemon

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"doorbell/config"
	"doorbell/events"
	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/push"
	"doorbell/push/pushtest"
)

// pushConfig turns push on, allowing the emulator on 127.0.0.1.
func pushConfig(t testing.TB, svc *pushtest.Service) config.Config {
	cfg := bellConfig()
	cfg.GPIO.Button.Cooldown = 0 // every press a ring of its own
	cfg.Push = config.Push{Enabled: true, Contact: "mailto:owner@example.org", AllowHosts: []string{"127.0.0.1"}}
	pushRoots = svc.Roots()
	t.Cleanup(func() { pushRoots = nil })
	return cfg
}

// pairPhone pairs a device for member and returns its token.
func pairPhone(t testing.TB, d *Daemon, addr, member string) string {
	t.Helper()
	testkit.AddMember(t, d.DataDir(), member)
	code, err := pairing.NewCode(d.DataDir(), member, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := insecure.Post("https://"+addr+"/api/pair", "application/json",
		strings.NewReader(`{"code":"`+code.Code+`","device":"`+member+`'s phone"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var paired struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&paired); err != nil || paired.Token == "" {
		t.Fatalf("pairing answered %s: %v", resp.Status, err)
	}
	return paired.Token
}

func pushRequest(t testing.TB, addr, method, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, "https://"+addr+"/api/push", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func nextPush(t testing.TB, svc *pushtest.Service) pushtest.Message {
	t.Helper()
	m, ok := svc.Next(5 * time.Second)
	if !ok {
		t.Fatal("no push reached the push service within 5 s")
	}
	if m.Err != nil {
		t.Fatalf("the push service refused the push: %v", m.Err)
	}
	return m
}

func TestPushOffByDefault(t *testing.T) {
	var d *Daemon
	d, addr, _ := started(t, bellConfig())
	token := pairPhone(t, d, addr, "anna")
	if code, m := pushRequest(t, addr, "GET", token, ""); code != 404 || m["error"] != "push_off" {
		t.Errorf("GET /api/push with push off: %d %v", code, m)
	}
	if code, _ := pushRequest(t, addr, "GET", "nope", ""); code != 401 {
		t.Errorf("unpaired: %d", code)
	}
	if _, err := os.Stat(filepath.Join(d.DataDir(), push.KeyFileName)); err == nil {
		t.Error("a VAPID key was made with push off")
	}
}

// A ring reaches the subscribed phones' push service; a revoked phone's
// subscription goes at once; one the push service calls gone goes too.
func TestPushInTheDaemon(t *testing.T) {
	svc := pushtest.New(t)
	var d *Daemon
	var bus <-chan events.Event
	d, addr, _ := started(t, pushConfig(t, svc), demoMode(strings.NewReader("")), subscribed(&bus))
	anna, ben := pairPhone(t, d, addr, "anna"), pairPhone(t, d, addr, "ben")
	annaSub, benSub := svc.Subscribe(), svc.Subscribe()

	code, m := pushRequest(t, addr, "GET", anna, "")
	if code != 200 || m["public_key"] == "" || m["subscribed"] != false {
		t.Fatalf("GET /api/push: %d %v", code, m)
	}
	key := m["public_key"].(string)
	for token, sub := range map[string]pushtest.Subscription{anna: annaSub, ben: benSub} {
		if code, m := pushRequest(t, addr, "POST", token, sub.JSON()); code != 201 || m["subscribed"] != true {
			t.Fatalf("POST /api/push: %d %v", code, m)
		}
	}
	if fi, err := os.Stat(filepath.Join(d.DataDir(), push.StoreFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("subscriptions file: %v", err)
	}

	pressDemo(t, addr)
	ring := nextRing(t, bus)
	for range 2 {
		m := nextPush(t, svc)
		var p push.Payload
		if err := json.Unmarshal(m.Plaintext, &p); err != nil || p.Kind != "ring" || !p.Time.Equal(ring.Time.UTC()) || m.VAPIDKey != key || m.Urgency != "high" {
			t.Errorf("push %+v: %v", p, err)
		}
	}
	waitReleased(t, addr)

	// Revoked: the subscription goes at once, and nothing more is sent to it.
	if _, _, err := pairing.Revoke(d.DataDir(), "ben"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ben's subscription deleted", func() bool {
		s, _ := push.OpenStore(d.DataDir())
		return s != nil && len(s.All()) == 1 && s.All()[0].Endpoint == annaSub.Endpoint
	})

	// Gone at the push service: deleted.
	svc.Answer(annaSub, http.StatusGone)
	pressDemo(t, addr)
	nextRing(t, bus)
	if m, ok := svc.Next(5 * time.Second); !ok || m.Endpoint != annaSub.Endpoint {
		t.Fatalf("push after the revocation: %+v", m)
	}
	waitFor(t, "anna's gone subscription deleted", func() bool {
		code, m := pushRequest(t, addr, "GET", anna, "")
		return code == 200 && m["subscribed"] == false
	})
	if m, ok := svc.Next(100 * time.Millisecond); ok {
		t.Errorf("a push went to %s after its device was revoked", m.Endpoint)
	}
	var h struct{ Push push.Status }
	resp := authGet(t, "https://"+addr+"/healthz", "")
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.Push.State != "on" || h.Push.Sent != 2 || h.Push.Gone != 1 || h.Push.Subscriptions != 0 {
		t.Errorf("/healthz push: %+v", h.Push)
	}
}

// Revoked while the daemon was stopped: gone at the next start.
func TestPushForgetsDevicesRevokedWhileStopped(t *testing.T) {
	svc := pushtest.New(t)
	dir := t.TempDir()
	cfg := pushConfig(t, svc)
	var d *Daemon
	d, addr, stop := started(t, cfg, inDir(dir))
	token := pairPhone(t, d, addr, "anna")
	if code, _ := pushRequest(t, addr, "POST", token, svc.Subscribe().JSON()); code != 201 {
		t.Fatal(code)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pairing.Revoke(dir, "anna"); err != nil {
		t.Fatal(err)
	}
	started(t, cfg, inDir(dir))
	if s, err := push.OpenStore(dir); err != nil || len(s.All()) != 0 {
		t.Errorf("after restart: %v %+v", err, s.All())
	}
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, what, ok)
}

// BenchmarkPressToPush measures from the debounced press (the ring's
// time; fake line through gpiotest, 30 ms debounce) to the push request
// arriving at the push-service emulator, all on loopback, with two phones
// subscribed.
func BenchmarkPressToPush(b *testing.B) {
	svc := pushtest.New(b)
	var d *Daemon
	d, addr, stop := started(b, pushConfig(b, svc), demoMode(strings.NewReader("")))
	defer stop()
	for _, who := range []string{"anna", "ben"} {
		if code, _ := pushRequest(b, addr, "POST", pairPhone(b, d, addr, who), svc.Subscribe().JSON()); code != 201 {
			b.Fatal(code)
		}
	}
	ch, unsubscribe := d.Bus().Subscribe("test", 16)
	defer unsubscribe()
	var lat []time.Duration
	for b.Loop() {
		pressDemo(b, addr)
		ring := nextRing(b, ch)
		for range 2 {
			m := nextPush(b, svc)
			lat = append(lat, m.Received.Sub(ring.Time))
		}
		waitReleased(b, addr)
	}
	b.ReportMetric(millis(percentileOf(lat, 0.50)), "press-to-push-p50-ms")
	b.ReportMetric(millis(percentileOf(lat, 0.99)), "press-to-push-p99-ms")
}

// A phone that asked for pictures gets a small JPEG of the (masked) camera
// inside the encrypted payload; the body is the same size as any other.
func TestPushSnapshot(t *testing.T) {
	svc := pushtest.New(t)
	var d *Daemon
	var bus <-chan events.Event
	cfg := pushConfig(t, svc)
	cfg.Camera.Width, cfg.Camera.Height = 320, 240
	d, addr, _ := started(t, cfg, demoMode(strings.NewReader("")), subscribed(&bus))
	sub := svc.Subscribe()
	body := strings.Replace(sub.JSON(), "{", `{"snapshot":true,`, 1)
	if code, m := pushRequest(t, addr, "POST", pairPhone(t, d, addr, "anna"), body); code != 201 || m["snapshot"] != true {
		t.Fatalf("POST: %d %v", code, m)
	}
	// The snapshotter looks for phones that want pictures once a second.
	var p push.Payload
	var m pushtest.Message
	deadline := time.Now().Add(10 * time.Second)
	for p.Snapshot == "" {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot in the push within 10 s")
		}
		pressDemo(t, addr)
		nextRing(t, bus)
		m = nextPush(t, svc)
		if err := json.Unmarshal(m.Plaintext, &p); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, addr)
	}
	if m.BodyLen != push.BodySize {
		t.Errorf("body of %d bytes with a picture, want %d", m.BodyLen, push.BodySize)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.Snapshot, "data:image/jpeg;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != snapshotWidth {
		t.Errorf("snapshot: %v, %v", err, img.Bounds())
	}
}

// In the no-recording profile a phone that asked for pictures gets its
// ring pushes without one, while the camera runs after the ring: no frame
// is kept for them, and none leaves the house.
func TestNoRecordingPushHasNoPicture(t *testing.T) {
	svc := pushtest.New(t)
	var bus <-chan events.Event
	cfg := pushConfig(t, svc)
	cfg.Camera.Width, cfg.Camera.Height = 320, 240
	cfg.Privacy.Profile = config.ProfileNoRecording
	cfg.Privacy.LiveWindow = 60
	d, addr, _ := started(t, cfg, demoMode(strings.NewReader("")), subscribed(&bus))
	sub := svc.Subscribe()
	body := strings.Replace(sub.JSON(), "{", `{"snapshot":true,`, 1)
	if code, m := pushRequest(t, addr, "POST", pairPhone(t, d, addr, "anna"), body); code != 201 || m["snapshot"] != true {
		t.Fatalf("POST: %d %v", code, m)
	}
	var running time.Time // when the camera was first seen giving frames after the ring
	for n := 0; running.IsZero() || time.Since(running) < 3*time.Second; n++ {
		if n > 50 {
			t.Fatal("the camera did not run after the rings")
		}
		pressDemo(t, addr)
		nextRing(t, bus)
		var p push.Payload
		if err := json.Unmarshal(nextPush(t, svc).Plaintext, &p); err != nil {
			t.Fatal(err)
		}
		if p.Snapshot != "" {
			t.Fatal("a push in the no-recording profile carries a picture")
		}
		waitReleased(t, addr)
		if h := getHealth(t, addr); running.IsZero() && h.Camera.FPS > 0 {
			running = time.Now()
		}
	}
}
