package daemon

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"doorbell/internal/testkit"
	"doorbell/mqtt"
	"doorbell/mqtt/mqtttest"
)

type mqttSection struct {
	MQTT mqtt.Status
}

func getMQTTHealth(t testing.TB, addr string) mqtt.Status {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h mqttSection
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.MQTT
}

// mqttDemo runs a demo daemon that publishes to broker b.
func mqttDemo(t testing.TB, b *mqtttest.Broker) (addr string, stop func() error) {
	t.Helper()
	cfg := bellConfig()
	cfg.Device.Name = "Front door"
	cfg.MQTT.Enabled = true
	cfg.MQTT.Broker = b.URL()
	cfg.MQTT.Topic = "doorbell/front"
	_, addr, stop = started(t, cfg, demoMode(strings.NewReader("")))
	testkit.EventuallyNil(t, 30*time.Second, "the daemon connected to the broker", func() error {
		if h := getMQTTHealth(t, addr); h.State != "connected" {
			return fmt.Errorf("%+v\nbroker log:\n%s", h, b.Log())
		}
		return nil
	})
	return addr, stop
}

func TestMQTTIsOffUnlessConfigured(t *testing.T) {
	_, addr, stop := started(t, bellConfig())
	defer stop()
	if s := getMQTTHealth(t, addr); s.State != "off" || s.Broker != "" {
		t.Errorf("mqtt health with the default config: %+v", s)
	}
}

// A press of the (demo) button reaches a Home Assistant-style subscriber on
// a real broker, which also sees the discovery configs.
func TestRingReachesMQTT(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha"}, "homeassistant/#", "doorbell/front/#")
	addr, stop := mqttDemo(t, b)
	defer stop()

	var ev map[string]any
	m := sub.Next(t, "homeassistant/event/doorbell_front/ring/config", 10*time.Second)
	if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
		t.Fatal(err)
	}
	if dev, _ := ev["device"].(map[string]any); ev["device_class"] != "doorbell" || dev["name"] != "Front door" {
		t.Errorf("event entity config %s", m.Payload)
	}
	if m := sub.Next(t, "doorbell/front/availability", 5*time.Second); m.Payload != "online" {
		t.Errorf("availability %q", m.Payload)
	}

	before := time.Now().UTC()
	pressDemo(t, addr)
	m = sub.Next(t, "doorbell/front/ring", 5*time.Second)
	var p map[string]string
	if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "event_type,time" || p["event_type"] != "ring" {
		t.Fatalf("ring payload %s; want only event_type ring and time", m.Payload)
	}
	at, err := time.Parse(time.RFC3339Nano, p["time"])
	if err != nil || at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now()) {
		t.Errorf("ring time %s (%v) is not the press's", p["time"], err)
	}
	if s := getMQTTHealth(t, addr); s.Published < 1 || s.Queued != 0 {
		t.Errorf("mqtt health after a ring: %+v", s)
	}
	if n := scrapeMetric(t, addr, "doorbell_mqtt_published_events_total"); n < 1 {
		t.Errorf("doorbell_mqtt_published_events_total = %v", n)
	}
}

// BenchmarkPressToMQTT measures the time from a press of the demo button
// (POST /api/demo/press; the fake line, 30 ms debounce, bus, MQTT client,
// mosquitto) to the ring message at a subscriber, all on loopback.
func BenchmarkPressToMQTT(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	sub := mqtttest.Subscribe(b, br, mqtttest.SubscriberOptions{ClientID: "ha"}, "doorbell/front/ring")
	addr, stop := mqttDemo(b, br)
	defer stop()
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		pressDemo(b, addr)
		m := sub.Next(b, "doorbell/front/ring", 5*time.Second)
		lat = append(lat, m.At.Sub(t0))
		waitReleased(b, addr)
	}
	b.ReportMetric(millis(percentileOf(lat, 0.50)), "press-to-mqtt-p50-ms")
	b.ReportMetric(millis(percentileOf(lat, 0.99)), "press-to-mqtt-p99-ms")
}

// waitReleased waits until the demo press has been released and settled.
func waitReleased(t testing.TB, addr string) {
	t.Helper()
	time.Sleep(demoHold) // the press is held this long before it can read released
	testkit.Eventually(t, 30*time.Second, "the demo button released", func() bool { return !getGPIOHealth(t, addr).GPIO.Pressed })
}

func percentileOf(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func millis(d time.Duration) float64 { return float64(d) / 1e6 }
