package daemon

import (
	"context"
	"fmt"

	"doorbell/events"
	"doorbell/internal/version"
	"doorbell/mqtt"
)

// startMQTT forwards rings and motion from the bus to the owner's MQTT
// broker. Off unless [mqtt] enabled = true: nothing connects anywhere
// unless the owner asks.
func (d *Daemon) startMQTT(ctx context.Context) error {
	if !d.Cfg.MQTT.Enabled {
		d.AddHealth("mqtt", func() any { return mqtt.Status{State: "off"} })
		return nil
	}
	cfg, err := mqtt.FromConfig(d.Cfg.MQTT, d.Cfg.Device.Name, version.Version, d.Log.With("part", "mqtt"))
	if err != nil {
		return err
	}
	c, err := mqtt.New(cfg)
	if err != nil {
		return fmt.Errorf("%v (in %s)", err, d.Cfg.File)
	}
	if err := c.RegisterMetrics(d.Metrics); err != nil {
		return err
	}
	d.AddHealth("mqtt", func() any { return c.Status() })
	// The client's own queue is the bounded one; this buffer only has to
	// cover the moment between a publish and the forwarder's next turn.
	ch, unsubscribe := d.Bus.Subscribe(256)
	d.goBackground(func() {
		<-ctx.Done()
		unsubscribe()
	})
	d.goBackground(func() {
		for e := range ch {
			switch e.Kind {
			case events.Ring, events.MotionStart, events.MotionEnd:
				c.Publish(e)
			}
		}
	})
	// Waited for at shutdown: it tells the broker the doorbell is offline.
	d.goBackground(func() { c.Run(ctx) })
	return nil
}
