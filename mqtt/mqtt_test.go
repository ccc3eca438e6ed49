package mqtt

import (
	"context"
	"doorbell/internal/syncbuf"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/config"
	"doorbell/events"
	"doorbell/internal/testkit"
	"doorbell/mqtt/mqtttest"
)

type running struct {
	*Client
	log  *syncbuf.Buffer
	reg  *prometheus.Registry
	stop func()
}

const topic = "doorbell/front"

func start(t *testing.T, b *mqtttest.Broker, edit func(*Config)) *running {
	t.Helper()
	u, err := url.Parse(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	r := &running{log: &syncbuf.Buffer{}, reg: prometheus.NewRegistry()}
	cfg := Config{
		Broker: u, CAFile: b.CAFile, Topic: topic, Discovery: true, DiscoveryPrefix: "homeassistant",
		DeviceName: "Front door", Version: "test", Queue: 100, KeepAlive: 10 * time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Client = c
	if err := c.RegisterMetrics(r.reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	r.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5 s of its context ending")
		}
	}
	t.Cleanup(r.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s\nbroker log:\n%s", r.log, b.Log())
		}
	})
	return r
}

func (r *running) waitState(t *testing.T, state string) Status {
	t.Helper()
	var s Status
	testkit.EventuallyNil(t, 30*time.Second, "the client "+state, func() error {
		if s = r.Status(); s.State != state {
			return fmt.Errorf("status %+v; log:\n%s", s, r.log)
		}
		return nil
	})
	return s
}

func (r *running) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func ring(at time.Time) events.Event { return events.Event{Kind: events.Ring, Time: at} }

// payload decodes a message, failing if it holds anything but kind and time.
func payload(t *testing.T, m mqtttest.Message) Payload {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal([]byte(m.Payload), &fields); err != nil {
		t.Fatalf("%s: payload %q is not JSON: %v", m.Topic, m.Payload, err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !reflect.DeepEqual(keys, []string{"event_type", "time"}) {
		t.Fatalf("%s: payload %s has fields %v; want only event_type and time", m.Topic, m.Payload, keys)
	}
	var p Payload
	_ = json.Unmarshal([]byte(m.Payload), &p)
	return p
}

func TestDiscoveryAndEvents(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha"}, "homeassistant/#", topic+"/#")
	c := start(t, b, nil)

	configs := map[string]map[string]any{}
	for _, tp := range []string{
		"homeassistant/event/doorbell_front/ring/config",
		"homeassistant/binary_sensor/doorbell_front/ring/config",
		"homeassistant/binary_sensor/doorbell_front/motion/config",
	} {
		m := sub.Next(t, tp, 10*time.Second)
		var c map[string]any
		if err := json.Unmarshal([]byte(m.Payload), &c); err != nil {
			t.Fatalf("%s: %v", tp, err)
		}
		configs[tp] = c
		if c["availability_topic"] != topic+"/availability" {
			t.Errorf("%s: availability_topic %v", tp, c["availability_topic"])
		}
		dev, _ := c["device"].(map[string]any)
		if dev["name"] != "Front door" || dev["identifiers"] == nil {
			t.Errorf("%s: device %v", tp, c["device"])
		}
	}
	ev := configs["homeassistant/event/doorbell_front/ring/config"]
	if ev["device_class"] != "doorbell" || ev["state_topic"] != topic+"/ring" || !reflect.DeepEqual(ev["event_types"], []any{"ring"}) {
		t.Errorf("event entity config: %v", ev)
	}
	if mo := configs["homeassistant/binary_sensor/doorbell_front/motion/config"]; mo["device_class"] != "motion" || mo["state_topic"] != topic+"/motion" {
		t.Errorf("motion sensor config: %v", mo)
	}
	if m := sub.Next(t, topic+"/availability", 5*time.Second); m.Payload != "online" {
		t.Errorf("availability %q, want online", m.Payload)
	}

	at := time.Date(2025, 3, 1, 18, 30, 5, 123e6, time.UTC)
	// Everything the bus may carry; only kind and time may go out.
	c.Publish(events.Event{Kind: events.Ring, Time: at, ID: 7, Zones: []string{"porch"}, Clip: "clip-secret", Repeat: true})
	m := sub.Next(t, topic+"/ring", 5*time.Second)
	if p := payload(t, m); p.EventType != "ring" || p.Time != "2025-03-01T18:30:05.123Z" {
		t.Errorf("ring payload %+v", p)
	}
	if strings.Contains(m.Payload, "clip") || strings.Contains(m.Payload, "porch") {
		t.Errorf("ring payload leaks: %s", m.Payload)
	}
	c.Publish(events.Event{Kind: events.ClipSealed, Time: at, Clip: "clip-secret"})
	c.Publish(events.Event{Kind: events.MotionStart, Time: at, Boxes: []events.Box{{0, 0, 1, 1}}})
	for {
		m := <-sub.C
		if m.Topic == topic+"/motion" {
			if p := payload(t, m); p.EventType != "motion_start" {
				t.Errorf("motion payload %+v", p)
			}
			break
		}
		if strings.HasPrefix(m.Topic, topic+"/") {
			t.Fatalf("unexpected message %s %s: a sealed clip must not be announced", m.Topic, m.Payload)
		}
	}

	// The configs and "online" are retained: Home Assistant starting later sees them.
	late := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha-later"}, "homeassistant/#", topic+"/availability")
	for _, tp := range []string{"homeassistant/event/doorbell_front/ring/config", topic + "/availability"} {
		if m := late.Next(t, tp, 5*time.Second); !m.Retain {
			t.Errorf("%s is not retained", tp)
		}
	}
}

func TestLastWillAndGoodbye(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "watcher"}, topic+"/availability")
	r := start(t, b, nil)
	if m := sub.Next(t, topic+"/availability", 10*time.Second); m.Payload != "online" {
		t.Fatalf("availability %q, want online", m.Payload)
	}
	// The connection dies without a DISCONNECT, as when the power goes:
	// the broker publishes the last will.
	r.mu.Lock()
	cm := r.cm
	r.mu.Unlock()
	cm.TerminateConnectionForTest()
	if m := sub.Next(t, topic+"/availability", 10*time.Second); m.Payload != "offline" {
		t.Fatalf("after the connection died: %q, want the last will, offline", m.Payload)
	}
	if m := sub.Next(t, topic+"/availability", 10*time.Second); m.Payload != "online" {
		t.Fatalf("after reconnecting: %q, want online", m.Payload)
	}
	r.stop()
	if m := sub.Next(t, topic+"/availability", 5*time.Second); m.Payload != "offline" {
		t.Fatalf("after stopping: %q, want offline; log:\n%s", m.Payload, r.log)
	}
}

func TestBrokerRestartLosesNoQueuedEvent(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persist: true})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha", Persistent: true}, topic+"/ring")
	// The doorbell reaches the broker through a gate, so that after the
	// restart it is let back only once the subscriber has subscribed again:
	// mosquitto does not keep the subscription of a client connected when
	// it stopped, and a doorbell faster back than the subscriber would
	// deliver to nobody.
	gate := mqtttest.NewGate(t, b)
	r := start(t, b, func(c *Config) { c.Broker = gate.URL() })
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	r.Publish(ring(t0))
	if p := payload(t, sub.Next(t, topic+"/ring", 10*time.Second)); p.Time != "2025-01-01T12:00:00.000Z" {
		t.Fatalf("first ring: %+v", p)
	}

	b.Stop()
	r.waitState(t, "connecting")
	var want []string
	for i := 1; i <= 5; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		want = append(want, at.Format("2006-01-02T15:04:05.000Z07:00"))
		r.Publish(ring(at))
	}
	if s := r.Status(); s.Queued != 5 || s.Dropped != 0 {
		t.Fatalf("while the broker is down: %+v; want 5 queued, none dropped", s)
	}
	gate.Close()
	b.Restart()
	sub.Resubscribed(t, 30*time.Second)
	gate.Open()
	for i, w := range want {
		if p := payload(t, sub.Next(t, topic+"/ring", 30*time.Second)); p.Time != w {
			t.Fatalf("ring %d after the restart has time %s, want %s (in order, none lost)", i+1, p.Time, w)
		}
	}
	r.waitState(t, "connected")
	testkit.Eventually(t, 30*time.Second, "the queue emptied", func() bool { return r.Status().Queued == 0 })
	if s := r.Status(); s.Queued != 0 || s.Dropped != 0 || s.Published != 6 {
		t.Errorf("after the restart: %+v; want nothing queued or dropped, 6 published", s)
	}
	if got := r.metric(t, "doorbell_mqtt_connect_failures_total"); got < 1 {
		t.Errorf("no failed connection counted while the broker was down: %v", got)
	}
}

func TestFullQueueDropsOldestFirst(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha"}, topic+"/ring")
	// The broker is away for the doorbell only (a closed gate refuses it),
	// so the subscriber stays subscribed throughout.
	gate := mqtttest.NewGate(t, b)
	gate.Close()
	r := start(t, b, func(c *Config) { c.Queue, c.Broker = 3, gate.URL() })
	r.waitState(t, "connecting")
	var s Status
	testkit.Eventually(t, 30*time.Second, "a reason for not connecting", func() bool { s = r.Status(); return s.Reason != "" })
	if !strings.Contains(s.Reason, "connection refused") {
		t.Errorf("reason for not connecting: %q", s.Reason)
	}
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		r.Publish(ring(t0.Add(time.Duration(i) * time.Second)))
	}
	if s := r.Status(); s.Queued != 3 || s.Dropped != 2 {
		t.Fatalf("status %+v; want 3 queued, 2 dropped", s)
	}
	if got := r.metric(t, "doorbell_mqtt_dropped_events_total"); got != 2 {
		t.Errorf("doorbell_mqtt_dropped_events_total = %v, want 2", got)
	}
	if n := strings.Count(r.log.String(), "queue is full"); n != 1 {
		t.Errorf("%d warnings about the full queue, want 1", n)
	}
	gate.Open()
	for i := 3; i <= 5; i++ {
		want := t0.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z07:00")
		if p := payload(t, sub.Next(t, topic+"/ring", 30*time.Second)); p.Time != want {
			t.Fatalf("got the ring of %s, want %s: the oldest two dropped, the rest in order", p.Time, want)
		}
	}
	// One more ring, sent after the queue: the next message must be it,
	// not a dropped one delivered late.
	last := t0.Add(time.Minute)
	r.Publish(ring(last))
	if p := payload(t, sub.Next(t, topic+"/ring", 30*time.Second)); p.Time != last.Format("2006-01-02T15:04:05.000Z07:00") {
		t.Errorf("an extra message after the queue: the ring of %s", p.Time)
	}
}

func TestTLSAndLogin(t *testing.T) {
	const password = "s3cret-pw"
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Users: map[string]string{"bell": password, "ha": "ha-pw"}})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha", Username: "ha", Password: "ha-pw"}, topic+"/ring")
	r := start(t, b, func(c *Config) { c.Username, c.Password = "bell", password })
	r.waitState(t, "connected")
	r.Publish(ring(time.Now()))
	sub.Next(t, topic+"/ring", 10*time.Second)

	wrong := start(t, b, func(c *Config) { c.Username, c.Password, c.ClientID = "bell", "not-the-password", "intruder" })
	wrong.waitState(t, "connecting")
	var s Status
	testkit.Eventually(t, 30*time.Second, "a reason for refusing the wrong password", func() bool { s = wrong.Status(); return s.Reason != "" })
	if !strings.Contains(s.Reason, "refused the login") || !strings.Contains(s.Reason, "mqtt.password") {
		t.Errorf("a wrong password gives reason %q", s.Reason)
	}

	untrusted := start(t, b, func(c *Config) { c.Username, c.Password, c.ClientID, c.CAFile = "bell", password, "no-ca", "" })
	untrusted.waitState(t, "connecting")
	testkit.Eventually(t, 30*time.Second, "a reason for distrusting the broker", func() bool { s = untrusted.Status(); return s.Reason != "" })
	if !strings.Contains(s.Reason, "mqtt.ca_file") {
		t.Errorf("a broker certificate from an unknown CA gives reason %q", s.Reason)
	}
	for _, l := range []*syncbuf.Buffer{r.log, wrong.log, untrusted.log} {
		if strings.Contains(l.String(), password) || strings.Contains(l.String(), "not-the-password") {
			t.Errorf("a password is in the log:\n%s", l)
		}
	}
	if strings.Contains(r.log.String(), "unencrypted") {
		t.Error("warned of an unencrypted password over mqtts")
	}
}

// A broker whose ACL refuses the discovery configs still gets the events.
func TestRefusedDiscoveryDoesNotBlockEvents(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{
		Users: map[string]string{"bell": "bell-pw", "ha": "ha-pw"},
		ACL:   "user bell\ntopic readwrite " + topic + "/#\n\nuser ha\ntopic read #\n",
	})
	sub := mqtttest.Subscribe(t, b, mqtttest.SubscriberOptions{ClientID: "ha", Username: "ha", Password: "ha-pw"}, topic+"/#")
	r := start(t, b, func(c *Config) { c.Username, c.Password = "bell", "bell-pw" })
	r.Publish(ring(time.Now()))
	sub.Next(t, topic+"/ring", 10*time.Second)
	if !strings.Contains(r.log.String(), "homeassistant/") {
		t.Errorf("the refused discovery topic is not in the log:\n%s", r.log)
	}
}

func TestPlainPasswordWarns(t *testing.T) {
	u, _ := url.Parse("mqtt://127.0.0.1:1")
	var log syncbuf.Buffer
	if _, err := New(Config{Broker: u, Topic: "d", Username: "u", Password: "pw-123", Log: slog.New(slog.NewTextHandler(&log, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "unencrypted") || strings.Contains(log.String(), "pw-123") {
		t.Errorf("log: %s", log.String())
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsURL, _ := url.Parse("mqtts://127.0.0.1:8883")
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Topic: "d"}, "must be a mqtt:// or mqtts:// URL"},
		{Config{Broker: &url.URL{Scheme: "http", Host: "h:1"}, Topic: "d"}, "must be a mqtt:// or mqtts:// URL"},
		{Config{Broker: tlsURL}, "topic is empty"},
		{Config{Broker: tlsURL, Topic: "d", CAFile: filepath.Join(dir, "missing.pem")}, "cannot read mqtt.ca_file"},
		{Config{Broker: tlsURL, Topic: "d", CAFile: notPEM}, "holds no PEM certificate"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error saying %q", c.cfg, err, c.want)
		}
	}
}

// A password in the broker's URL never shows in an error, a log or the status.
func TestBrokerPasswordNeverShows(t *testing.T) {
	for _, broker := range []string{"mqtt://me:secret%zz@hub:1883", "mqtt://me:secret@hub:1883"} {
		cfg, err := FromConfig(config.MQTT{Broker: broker, Topic: "d"}, "", "", nil)
		if err == nil {
			_, err = New(cfg)
		}
		if err == nil {
			t.Errorf("%s: no error; want one that says to use mqtt.username and mqtt.password", broker)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", broker, err)
		}
	}
}

func TestQueueNeverDropsTheEventInFlight(t *testing.T) {
	q := queue{max: 2}
	for _, s := range []string{"a", "b"} {
		q.push(message{topic: s})
	}
	if m, _ := q.head(); m.topic != "a" {
		t.Fatalf("head %q", m.topic)
	}
	// "a" is in flight and does not count: "c" fits, then "d" makes the
	// queue overflow and "b", the oldest waiting, goes.
	if q.push(message{topic: "c"}) {
		t.Fatal("dropped an event with room left beside the one in flight")
	}
	if !q.push(message{topic: "d"}) {
		t.Fatal("a full queue did not report a drop")
	}
	q.done(false) // "a" failed: it stays first
	var got []string
	for {
		m, ok := q.head()
		if !ok {
			break
		}
		got = append(got, m.topic)
		q.done(true)
	}
	if strings.Join(got, "") != "acd" || q.droppedCount() != 1 {
		t.Errorf("delivered %v with %d dropped; want a c d, 1 dropped", got, q.droppedCount())
	}
}
