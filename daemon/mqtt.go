package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"doorbell/config"
	"doorbell/events"
	"doorbell/internal/version"
	"doorbell/mqtt"
)

// mqttPart forwards rings and motion from the bus to the owner's MQTT
// broker. Off unless [mqtt] enabled = true: nothing connects anywhere
// unless the owner asks.
type mqttPart struct {
	client *mqtt.Client // nil when off
	bus    *events.Bus
}

// newMQTT checks the [mqtt] section (file names the config in errors) and
// makes the client; it connects only once started.
func newMQTT(c config.MQTT, device, file string, bus *events.Bus, log *slog.Logger) (*mqttPart, error) {
	p := &mqttPart{bus: bus}
	if !c.Enabled {
		return p, nil
	}
	cfg, err := mqtt.FromConfig(c, device, version.Version, log.With("part", "mqtt"))
	if err != nil {
		return nil, err
	}
	if p.client, err = mqtt.New(cfg); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, file)
	}
	return p, nil
}

func (p *mqttPart) start(ctx context.Context, h *host) error {
	c := p.client
	if c == nil {
		h.AddHealth("mqtt", func() any { return mqtt.Status{State: "off"} })
		return nil
	}
	if err := c.RegisterMetrics(h.metrics); err != nil {
		return err
	}
	h.AddHealth("mqtt", func() any { return c.Status() })
	// The client's own queue is the bounded one; this buffer only has to
	// cover the moment between a publish and the forwarder's next turn.
	ch, unsubscribe := p.bus.Subscribe("mqtt", 256)
	h.goBackground(func() {
		<-ctx.Done()
		unsubscribe()
	})
	h.goBackground(func() {
		for e := range ch {
			switch e.Kind {
			case events.Ring, events.MotionStart, events.MotionEnd:
				c.Publish(e)
			}
		}
	})
	// Waited for at shutdown: it tells the broker the doorbell is offline.
	h.goBackground(func() { c.Run(ctx) })
	return nil
}
