package mqtttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// Message is one message a Subscriber received.
type Message struct {
	Topic   string
	Payload string
	Retain  bool
	At      time.Time // when it arrived
}

// SubscriberOptions shape a Subscriber.
type SubscriberOptions struct {
	ClientID string
	// Persistent keeps the subscriber's session on the broker while it is
	// away, so that QoS 1 messages published meanwhile wait for it.
	Persistent         bool
	Username, Password string
}

// Subscriber is a real MQTT client (Paho) that collects what it receives,
// reconnecting by itself.
type Subscriber struct {
	C  chan Message
	cm *autopaho.ConnectionManager
	// subscribed has the outcome of the subscription made on each new
	// connection.
	subscribed chan error
}

// Subscribe connects to b, subscribes to filters at QoS 1 and returns once
// the broker has acknowledged the subscription.
func Subscribe(t testing.TB, b *Broker, o SubscriberOptions, filters ...string) *Subscriber {
	t.Helper()
	u, _ := url.Parse(b.URL())
	s := &Subscriber{C: make(chan Message, 1000), subscribed: make(chan error, 16)}
	subs := make([]paho.SubscribeOptions, len(filters))
	for i, f := range filters {
		subs[i] = paho.SubscribeOptions{Topic: f, QoS: 1}
	}
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     10,
		CleanStartOnInitialConnection: true,
		ReconnectBackoff:              autopaho.NewConstantBackoff(50 * time.Millisecond),
		ConnectUsername:               o.Username,
		ConnectPassword:               []byte(o.Password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
				select {
				case s.subscribed <- err:
				default:
				}
			}()
		},
		ClientConfig: paho.ClientConfig{
			ClientID: o.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
				s.C <- Message{Topic: p.Packet.Topic, Payload: string(p.Packet.Payload), Retain: p.Packet.Retain, At: time.Now()}
				return true, nil
			}},
		},
	}
	if o.Persistent {
		cfg.SessionExpiryInterval = 3600
	}
	if b.CAFile != "" {
		pem, err := os.ReadFile(b.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.TlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.cm = cm
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer dcancel()
		_ = cm.Disconnect(dctx)
		cancel()
	})
	select {
	case err := <-s.subscribed:
		if err != nil {
			t.Fatalf("subscribe to %v: %v", filters, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no subscription to %v at %s within 10 s; broker log:\n%s", filters, b.URL(), b.Log())
	}
	return s
}

// Resubscribed waits until the subscriber has connected again and made
// its subscription anew, as after a broker restart: mosquitto 2.0 does not
// bring back the session of a client that was connected when it stopped.
func (s *Subscriber) Resubscribed(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-s.subscribed:
		if err != nil {
			t.Fatalf("subscribe again after reconnecting: %v", err)
		}
	case <-time.After(timeout):
		t.Fatalf("the subscriber did not reconnect and subscribe again within %v", timeout)
	}
}

// Next returns the next message on topic, skipping others, or fails the
// test after timeout.
func (s *Subscriber) Next(t testing.TB, topic string, timeout time.Duration) Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-s.C:
			if m.Topic == topic {
				return m
			}
		case <-deadline:
			t.Fatalf("no message on %s within %v", topic, timeout)
			return Message{}
		}
	}
}
