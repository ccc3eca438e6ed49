package config

import (
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// MQTT sends ring and motion events to the owner's MQTT broker (for Home
// Assistant and the like). Off by default: nothing leaves the device unless
// the owner turns it on. Payloads carry only the event kind and its time.
type MQTT struct {
	Enabled bool `toml:"enabled"`
	// Broker is "mqtt://HOST:PORT" (plain) or "mqtts://HOST:PORT" (TLS).
	Broker string `toml:"broker"`
	// CAFile is a PEM file of the CAs that may sign the broker's
	// certificate; empty means the system's CAs. mqtts only.
	CAFile   string `toml:"ca_file"`
	Username string `toml:"username"`
	Password Secret `toml:"password"`
	// ClientID names this client to the broker; empty: the topic with "/"
	// replaced by "-".
	ClientID string `toml:"client_id"`
	// Topic is the prefix of every topic this doorbell publishes.
	Topic string `toml:"topic"`
	// Discovery publishes Home Assistant discovery configs under DiscoveryPrefix.
	Discovery       bool   `toml:"discovery"`
	DiscoveryPrefix string `toml:"discovery_prefix"`
	// Queue is how many events are kept while the broker is unreachable;
	// past it the oldest are dropped.
	Queue int `toml:"queue"`
	// KeepAlive is the MQTT keep-alive, in seconds.
	KeepAlive int `toml:"keepalive"`
	// ReconnectMax is the longest wait between connection attempts, in seconds.
	ReconnectMax float64 `toml:"reconnect_max"`
}

// Secret is a string that never shows in logs or printed configs.
type Secret string

// String hides the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "(hidden)"
}

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue hides the secret from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

func defaultMQTT() MQTT {
	return MQTT{
		Topic: "doorbell", Discovery: true, DiscoveryPrefix: "homeassistant",
		Queue: 100, KeepAlive: 30, ReconnectMax: 60,
	}
}

// BrokerURL returns the broker's URL with its default port filled in.
func (m MQTT) BrokerURL() (*url.URL, error) {
	u, err := url.Parse(m.Broker)
	if err != nil {
		return nil, err
	}
	if u.Port() == "" && u.Hostname() != "" {
		port := "1883"
		if u.Scheme == "mqtts" {
			port = "8883"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

func (m *MQTT) validate(v *validator) {
	if !m.Enabled {
		return
	}
	const eg = `e.g. "mqtt://192.168.1.10:1883" or "mqtts://broker.lan:8883"`
	if m.Broker == "" {
		v.errorf("mqtt.broker", "mqtt.enabled is true but mqtt.broker is empty; set it to your broker's address, %s", eg)
	} else if hasUserinfo(m.Broker) {
		// Checked first, and the URL not shown: a password in it would show
		// wherever this error is printed or logged.
		v.errorf("mqtt.broker", "mqtt.broker holds a user name or password; remove it from the URL and set mqtt.username and mqtt.password instead")
	} else if u, err := m.BrokerURL(); err != nil {
		v.errorf("mqtt.broker", "mqtt.broker %q is not a URL (%v); write it as %s", m.Broker, err, eg)
	} else {
		switch {
		case u.Scheme != "mqtt" && u.Scheme != "mqtts":
			v.errorf("mqtt.broker", "mqtt.broker %q starts with %q; use mqtt:// (plain) or mqtts:// (TLS), %s", m.Broker, u.Scheme+"://", eg)
		case u.Hostname() == "":
			v.errorf("mqtt.broker", "mqtt.broker %q names no host; write it as %s", m.Broker, eg)
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			v.errorf("mqtt.broker", "mqtt.broker %q has a path or query; give only the scheme, host and port, %s", m.Broker, eg)
		default:
			if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
				v.errorf("mqtt.broker", "mqtt.broker %q has port %q; use a number from 1 to 65535", m.Broker, u.Port())
			}
			if m.CAFile != "" && u.Scheme != "mqtts" {
				v.errorf("mqtt.ca_file", "mqtt.ca_file is set but mqtt.broker is not mqtts://; use mqtts:// to talk TLS to the broker, or remove ca_file")
			}
		}
	}
	if m.Password != "" && m.Username == "" {
		v.errorf("mqtt.username", "mqtt.password is set but mqtt.username is empty; set the user name the broker knows the password for")
	}
	checkTopic(v, "mqtt.topic", m.Topic)
	if m.Discovery {
		checkTopic(v, "mqtt.discovery_prefix", m.DiscoveryPrefix)
	}
	if !clientID.MatchString(m.ClientID) {
		v.errorf("mqtt.client_id", "mqtt.client_id is %q; use up to 64 letters, digits, \"-\" or \"_\", or leave it empty", m.ClientID)
	}
	if m.Queue < 1 || m.Queue > 10000 {
		v.errorf("mqtt.queue", "mqtt.queue is %d; use 1 to 10000 events, e.g. 100", m.Queue)
	}
	if m.KeepAlive < 5 || m.KeepAlive > 3600 {
		v.errorf("mqtt.keepalive", "mqtt.keepalive is %d; use 5 to 3600 seconds, e.g. 30", m.KeepAlive)
	}
	if !(m.ReconnectMax >= 2 && m.ReconnectMax <= 3600) {
		v.errorf("mqtt.reconnect_max", "mqtt.reconnect_max is %g; use 2 to 3600 seconds, e.g. 60", m.ReconnectMax)
	}
}

// hasUserinfo reports whether a broker address has a "user:password@"
// part, whether or not it parses as a URL.
func hasUserinfo(broker string) bool {
	rest := broker
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	} else {
		rest = strings.TrimPrefix(rest, "//")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return strings.Contains(rest, "@")
}

var clientID = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

func checkTopic(v *validator, key, t string) {
	if t == "" || strings.ContainsAny(t, "+#\x00") || strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") || strings.Contains(t, "//") {
		v.errorf(key, "%s is %q; use topic levels joined by \"/\", without wildcards (+ #) or empty levels, e.g. \"doorbell/front\"", key, t)
	}
}
