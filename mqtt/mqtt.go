// Package mqtt tells the owner's MQTT broker (and through it Home Assistant)
// when the doorbell rings or sees motion. It publishes only the event kind
// and its time, queues events while the broker is away and delivers them in
// order once it is back, and announces itself through Home Assistant MQTT
// discovery with a last will for availability. The protocol is Eclipse
// Paho's (autopaho), not ours.
package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"

	"doorbell/config"
	"doorbell/events"
)

// Config says where and how to publish.
type Config struct {
	Broker          *url.URL // mqtt://HOST:PORT or mqtts://HOST:PORT
	CAFile          string   // PEM CAs for mqtts; "" for the system's
	Username        string
	Password        string
	ClientID        string // "" for the topic with "/" made "-"
	Topic           string // prefix of every topic
	Discovery       bool   // publish Home Assistant discovery configs
	DiscoveryPrefix string
	DeviceName      string // the device's name in Home Assistant
	Version         string // the software version shown there
	Queue           int    // events kept while disconnected
	KeepAlive       time.Duration
	ReconnectMin    time.Duration // first wait between attempts; 0: 1 s
	ReconnectMax    time.Duration // longest wait between attempts
	Log             *slog.Logger
}

// FromConfig makes a Config from the file's [mqtt] section.
func FromConfig(c config.MQTT, deviceName, version string, log *slog.Logger) (Config, error) {
	u, err := c.BrokerURL()
	if err != nil {
		// Neither the address nor url.Parse's error, which quotes it: it may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Config{}, fmt.Errorf("mqtt.broker is not a URL (%w); write it as mqtt://HOST:PORT", err)
	}
	return Config{
		Broker: u, CAFile: c.CAFile, Username: c.Username, Password: string(c.Password),
		ClientID: c.ClientID, Topic: c.Topic, Discovery: c.Discovery, DiscoveryPrefix: c.DiscoveryPrefix,
		DeviceName: deviceName, Version: version, Queue: c.Queue,
		KeepAlive:    time.Duration(c.KeepAlive) * time.Second,
		ReconnectMax: time.Duration(c.ReconnectMax * float64(time.Second)),
		Log:          log,
	}, nil
}

// Client publishes the doorbell's events to one broker.
type Client struct {
	cfg  Config
	tls  *tls.Config
	log  *slog.Logger
	q    queue
	wake chan struct{} // an event was queued, or the connection came up

	ups        atomic.Uint64 // connections made so far
	connected  atomic.Bool
	published  atomic.Uint64
	refused    atomic.Uint64 // events the broker refused (e.g. its ACL)
	failures   atomic.Uint64 // failed connection attempts
	warnedDrop atomic.Bool   // a full queue was logged since the last delivery

	mu       sync.Mutex
	reason   string // why the last connection attempt failed
	cm       *autopaho.ConnectionManager
	connCtx  context.Context // ends when the current connection goes down
	connDown context.CancelFunc
}

// New checks cfg and loads the CA file. It connects to nothing: Run does.
func New(cfg Config) (*Client, error) {
	if cfg.Broker == nil || (cfg.Broker.Scheme != "mqtt" && cfg.Broker.Scheme != "mqtts") || cfg.Broker.Port() == "" {
		return nil, errors.New("mqtt: the broker must be a mqtt:// or mqtts:// URL with a port; set mqtt.broker")
	}
	if cfg.Broker.User != nil {
		// It would show in the logs and in /healthz.
		return nil, errors.New("mqtt: the broker URL holds a user name or password; remove it and set mqtt.username and mqtt.password instead")
	}
	if cfg.Topic == "" {
		return nil, errors.New("mqtt: the topic is empty; set mqtt.topic, e.g. \"doorbell\"")
	}
	if cfg.Queue < 1 {
		cfg.Queue = 1
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax <= cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin + time.Millisecond
	}
	if cfg.ClientID == "" {
		cfg.ClientID = strings.ReplaceAll(cfg.Topic, "/", "-")
	}
	if cfg.DeviceName == "" {
		cfg.DeviceName = "Doorbell"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: cfg.Log, q: queue{max: cfg.Queue}, wake: make(chan struct{}, 1)}
	if cfg.Broker.Scheme == "mqtts" {
		c.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.Broker.Hostname()}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("cannot read mqtt.ca_file: %w; check the path, or leave it empty to trust the system's CAs", err)
			}
			c.tls.RootCAs = x509.NewCertPool()
			if !c.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("mqtt.ca_file %s holds no PEM certificate; give the CA certificate that signed the broker's, in PEM", cfg.CAFile)
			}
		}
	} else if cfg.Password != "" {
		c.log.Warn("mqtt: the broker password crosses the network unencrypted over mqtt://; use mqtts:// to protect it", "broker", cfg.Broker.String())
	}
	return c, nil
}

// Topics this client publishes to.
func (c *Client) availabilityTopic() string { return c.cfg.Topic + "/availability" }

// RingTopic and MotionTopic carry the events.
func (c *Client) RingTopic() string   { return c.cfg.Topic + "/ring" }
func (c *Client) MotionTopic() string { return c.cfg.Topic + "/motion" }

// Payload is the whole of an event message: its kind and its time. Home
// Assistant's event entity reads event_type.
type Payload struct {
	EventType string `json:"event_type"`
	Time      string `json:"time"` // RFC 3339, UTC, milliseconds
}

// Publish queues e for the broker. Only rings and motion go out, and of
// them only the kind and the time: never pictures, zones or clip ids. It
// never blocks: when the queue is full the oldest event is dropped.
func (c *Client) Publish(e events.Event) {
	var topic string
	switch e.Kind {
	case events.Ring:
		topic = c.RingTopic()
	case events.MotionStart, events.MotionEnd:
		topic = c.MotionTopic()
	default:
		return
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	body, _ := json.Marshal(Payload{EventType: string(e.Kind), Time: t.UTC().Format("2006-01-02T15:04:05.000Z07:00")})
	// One warning per outage, not one per event.
	if c.q.push(message{topic: topic, payload: body}) && !c.warnedDrop.Swap(true) {
		c.log.Warn("mqtt: the event queue is full while the broker is away; dropping the oldest events (counted in doorbell_mqtt_dropped_events_total)", "queue", c.cfg.Queue)
	}
	c.poke()
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run connects, reconnecting with backoff, and delivers queued events until
// ctx ends; then it marks the doorbell offline and disconnects.
func (c *Client) Run(ctx context.Context) {
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{c.cfg.Broker},
		KeepAlive:                     uint16(c.cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: true, // events are queued here, not in a broker session
		ReconnectBackoff:              autopaho.NewExponentialBackoff(c.cfg.ReconnectMin, c.cfg.ReconnectMax, min(2*c.cfg.ReconnectMin, c.cfg.ReconnectMax), 2),
		ConnectTimeout:                10 * time.Second,
		AttemptConnection:             c.dial,
		ConnectUsername:               c.cfg.Username,
		ConnectPassword:               []byte(c.cfg.Password),
		WillMessage:                   &paho.WillMessage{Topic: c.availabilityTopic(), Payload: []byte("offline"), QoS: 1, Retain: true},
		OnConnectionUp: func(*autopaho.ConnectionManager, *paho.Connack) {
			c.mu.Lock()
			c.connCtx, c.connDown = context.WithCancel(context.Background())
			c.mu.Unlock()
			c.connected.Store(true)
			c.ups.Add(1)
			c.setReason("")
			c.log.Info("mqtt: connected", "broker", c.cfg.Broker.String())
			c.poke()
		},
		OnConnectionDown: func() bool {
			c.mu.Lock()
			c.connDown()
			c.mu.Unlock()
			c.connected.Store(false)
			c.log.Warn("mqtt: lost the connection to the broker; reconnecting, and queueing events meanwhile", "broker", c.cfg.Broker.String())
			return true
		},
		OnConnectError: func(err error) {
			c.failures.Add(1)
			msg := connectProblem(err)
			if c.setReason(msg) {
				c.log.Warn("mqtt: cannot connect to the broker; retrying with backoff", "broker", c.cfg.Broker.String(), "reason", msg)
			}
		},
		ClientConfig: paho.ClientConfig{ClientID: c.cfg.ClientID},
	}
	if c.cfg.Username == "" {
		cc.ConnectPassword = nil
	}
	// The connection outlives ctx by the goodbye below.
	connCtx, stop := context.WithCancel(context.Background())
	defer stop()
	cm, err := autopaho.NewConnection(connCtx, cc)
	if err != nil {
		c.setReason(err.Error())
		c.log.Error("mqtt: cannot start the client", "err", err)
		return
	}
	c.mu.Lock()
	c.cm = cm
	c.mu.Unlock()
	c.send(ctx, cm)

	// Say goodbye, so that Home Assistant shows the doorbell offline at
	// once; a clean DISCONNECT would otherwise suppress the last will.
	bye, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if c.connected.Load() {
		_, _ = cm.Publish(bye, &paho.Publish{Topic: c.availabilityTopic(), Payload: []byte("offline"), QoS: 1, Retain: true})
	}
	_ = cm.Disconnect(bye)
	c.connected.Store(false)
}

// dial opens the connection itself, so that no proxy setting in the
// environment can send it elsewhere.
func (c *Client) dial(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if u.Scheme == "mqtts" {
		conn, err := (&tls.Dialer{NetDialer: d, Config: c.tls}).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		return packets.NewThreadSafeConn(conn), nil
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return packets.NewThreadSafeConn(conn), nil
}

// send delivers the queue in order, one event at a time, each acknowledged
// (QoS 1) before the next; after every new connection it first announces
// the doorbell (discovery, then "online").
func (c *Client) send(ctx context.Context, cm *autopaho.ConnectionManager) {
	var announced uint64
	fails := 0
	for {
		if err := cm.AwaitConnection(ctx); err != nil {
			return
		}
		if up := c.ups.Load(); up != announced {
			if err := c.announce(ctx, cm); err != nil {
				c.log.Debug("mqtt: cannot announce the doorbell; retrying", "err", err)
				if !pause(ctx, &fails) {
					return
				}
				continue
			}
			announced = up
		}
		m, ok := c.q.head()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
			}
			continue
		}
		pr, err := c.publish(ctx, cm, m, false)
		switch {
		case err == nil:
			c.q.done(true)
			c.published.Add(1)
			c.warnedDrop.Store(false)
			fails = 0
		case pr != nil && pr.ReasonCode >= 0x80:
			// Refused for good (the broker's ACL, say): retrying would block the queue.
			c.q.done(true)
			c.refused.Add(1)
			c.log.Warn("mqtt: the broker refused an event; check that its ACL lets this client publish to the topic", "topic", m.topic, "reason", err)
		default:
			// The connection failed under it: keep the event and try again.
			c.q.done(false)
			c.log.Debug("mqtt: cannot deliver an event; retrying", "err", err)
			if !pause(ctx, &fails) {
				return
			}
		}
	}
}

// publish sends one message at QoS 1 and waits for the broker's
// acknowledgement, giving up when the connection goes down: Paho forgets a
// message in flight when its session ends, without telling the sender.
func (c *Client) publish(ctx context.Context, cm *autopaho.ConnectionManager, m message, retain bool) (*paho.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.mu.Lock()
	conn := c.connCtx
	c.mu.Unlock()
	// Autopaho reports a connection before OnConnectionUp has run; a message
	// sent then would be sent under the old connection's (ended) context and
	// counted as failed after all, and so delivered twice.
	if conn == nil || conn.Err() != nil {
		return nil, errNotUp
	}
	defer context.AfterFunc(conn, cancel)()
	return cm.Publish(ctx, &paho.Publish{Topic: m.topic, Payload: m.payload, QoS: 1, Retain: retain})
}

var errNotUp = errors.New("the connection is not up yet")

// pause waits a little longer after each failure in a row.
func pause(ctx context.Context, fails *int) bool {
	d := min(50*time.Millisecond<<min(*fails, 6), 2*time.Second)
	*fails++
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// announce publishes the discovery configs and availability, both retained.
func (c *Client) announce(ctx context.Context, cm *autopaho.ConnectionManager) error {
	msgs := c.discovery()
	msgs = append(msgs, message{topic: c.availabilityTopic(), payload: []byte("online")})
	for _, m := range msgs {
		pr, err := c.publish(ctx, cm, m, true)
		if err != nil && pr != nil && pr.ReasonCode >= 0x80 {
			// Refused for good (the broker's ACL, say): retrying would hold up every event.
			c.log.Warn("mqtt: the broker refused an announcement; check that its ACL lets this client publish to the topic", "topic", m.topic, "reason", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// discovery is Home Assistant's MQTT discovery: a doorbell event entity,
// and binary sensors for ringing and for motion, all one device.
func (c *Client) discovery() []message {
	if !c.cfg.Discovery {
		return nil
	}
	node := nodeID(c.cfg.Topic)
	device := map[string]any{
		"identifiers": []string{"doorbell_" + node},
		"name":        c.cfg.DeviceName,
		"model":       "Doorbell",
		"sw_version":  c.cfg.Version,
	}
	common := func(m map[string]any) map[string]any {
		m["availability_topic"] = c.availabilityTopic()
		m["device"] = device
		return m
	}
	configs := []struct {
		component, object string
		config            map[string]any
	}{
		{"event", "ring", common(map[string]any{
			"name": "Ring", "unique_id": node + "_ring_event", "device_class": "doorbell",
			"state_topic": c.RingTopic(), "event_types": []string{string(events.Ring)},
		})},
		{"binary_sensor", "ring", common(map[string]any{
			"name": "Ringing", "unique_id": node + "_ring", "icon": "mdi:doorbell",
			"state_topic":    c.RingTopic(),
			"value_template": "{{ 'ON' if value_json.event_type == 'ring' else 'OFF' }}",
			"off_delay":      10,
		})},
		{"binary_sensor", "motion", common(map[string]any{
			"name": "Motion", "unique_id": node + "_motion", "device_class": "motion",
			"state_topic":    c.MotionTopic(),
			"value_template": "{{ 'ON' if value_json.event_type == 'motion_start' else 'OFF' }}",
		})},
	}
	var msgs []message
	for _, k := range configs {
		body, _ := json.Marshal(k.config)
		msgs = append(msgs, message{topic: c.cfg.DiscoveryPrefix + "/" + k.component + "/" + node + "/" + k.object + "/config", payload: body})
	}
	return msgs
}

var notID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// nodeID makes a Home Assistant node id of the topic: "doorbell/front" → "doorbell_front".
func nodeID(topic string) string { return notID.ReplaceAllString(topic, "_") }

func (c *Client) setReason(s string) (changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = s != c.reason
	c.reason = s
	return changed
}

// connectProblem says why a connection attempt failed, and what to do.
func connectProblem(err error) string {
	var ce *autopaho.ConnackError
	if errors.As(err, &ce) {
		switch ce.ReasonCode {
		case 0x86, 0x87: // bad user name or password; not authorized
			return fmt.Sprintf("the broker refused the login (%s); check mqtt.username and mqtt.password", ce.Err)
		}
		return fmt.Sprintf("the broker refused the connection (%s)", ce.Err)
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ue):
		return fmt.Sprintf("%v; set mqtt.ca_file to the CA that signed the broker's certificate", err)
	case errors.As(err, &he):
		return fmt.Sprintf("%v; use the host name the broker's certificate names in mqtt.broker", err)
	}
	return err.Error()
}

// Status is the "mqtt" section of /healthz.
type Status struct {
	State     string `json:"state"` // "connected" or "connecting"
	Broker    string `json:"broker"`
	Queued    int    `json:"queued"`
	Dropped   uint64 `json:"dropped"`
	Published uint64 `json:"published"`
	Reason    string `json:"reason,omitempty"` // why the last attempt to connect failed
}

// Status reports the client's state now.
func (c *Client) Status() Status {
	s := Status{State: "connecting", Broker: c.cfg.Broker.String(), Queued: c.q.len(), Dropped: c.q.droppedCount(), Published: c.published.Load()}
	if c.connected.Load() {
		s.State = "connected"
	} else {
		c.mu.Lock()
		s.Reason = c.reason
		c.mu.Unlock()
	}
	return s
}

// RegisterMetrics adds the client's counters to reg.
func (c *Client) RegisterMetrics(reg prometheus.Registerer) error {
	for _, m := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_mqtt_connected", Help: "1 while connected to the MQTT broker."},
			func() float64 {
				if c.connected.Load() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_mqtt_queued_events", Help: "Events waiting for the MQTT broker."},
			func() float64 { return float64(c.q.len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorbell_mqtt_published_events_total", Help: "Events the MQTT broker acknowledged."},
			func() float64 { return float64(c.published.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorbell_mqtt_dropped_events_total", Help: "Events dropped, oldest first, because the queue was full while the broker was away."},
			func() float64 { return float64(c.q.droppedCount()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorbell_mqtt_refused_events_total", Help: "Events the MQTT broker refused (e.g. by its ACL)."},
			func() float64 { return float64(c.refused.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorbell_mqtt_connect_failures_total", Help: "Failed attempts to connect to the MQTT broker."},
			func() float64 { return float64(c.failures.Load()) }),
	} {
		if err := reg.Register(m); err != nil {
			return fmt.Errorf("mqtt metrics: %w", err)
		}
	}
	return nil
}

// message is one queued publication.
type message struct {
	topic   string
	payload []byte
}

// queue is the bounded, ordered queue of events waiting for the broker.
// The head may be in flight; it is never the one dropped, and does not
// count against max.
type queue struct {
	mu       sync.Mutex
	items    []message
	max      int
	inflight bool
	dropped  uint64
}

// push appends m, dropping the oldest waiting event if the queue is full.
func (q *queue) push(m message) (dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	first := 0
	if q.inflight {
		first = 1
	}
	if len(q.items)-first >= q.max {
		q.items = append(q.items[:first], q.items[first+1:]...)
		q.dropped++
		dropped = true
	}
	q.items = append(q.items, m)
	return dropped
}

// head returns the oldest event and marks it in flight.
func (q *queue) head() (message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return message{}, false
	}
	q.inflight = true
	return q.items[0], true
}

// done ends the flight of the head: delivered (removed) or not (kept).
func (q *queue) done(delivered bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if delivered && q.inflight && len(q.items) > 0 {
		q.items = q.items[1:]
	}
	q.inflight = false
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
